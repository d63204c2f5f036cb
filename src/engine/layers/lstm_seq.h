/* lstm_seq.h: LSTM backward with a gradient on every step's hidden state, and one
 * stateful inference step (lstm_seq.c). Layouts as backend.h's LSTM op. */
#ifndef DL_LSTM_SEQ_H
#define DL_LSTM_SEQ_H

#include "../backend.h"

/* floats of scratch lstm_backward_seq_cpu needs */
size_t lstm_seq_scratch_floats(LSTMDims d);
/* dh_seq (B,T,H): dL/dh_t of every step; otherwise as lstm_backward_cpu:
 * dx (B,T,In; x_ld) (+)= per accumulate_dx, may be NULL; dw_ih, dw_hh, db_ih, db_hh +=;
 * cache from lstm_forward (CPU layout, lstm_cell.h) */
void lstm_backward_seq_cpu(float *dx, float *dw_ih, float *dw_hh, float *db_ih, float *db_hh, const float *dh_seq,
                           const float *cache, const float *x, const float *w_ih, const float *w_hh, LSTMDims d,
                           float *scratch);
/* one step of one sequence, state (h, c) (H) carried by the caller; first: zero state.
 * gates (4H) workspace. For the MMF study's stateful evaluation over long series. */
void lstm_step_cpu(float *h, float *c, float *gates, const float *x, const float *w_ih, const float *w_hh,
                   const float *b_ih, const float *b_hh, int In, int H, int first);

#endif
