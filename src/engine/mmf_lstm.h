/* mmf_lstm.h: the MMF LSTM's extra verb (the model itself: model.h, kind MODEL_MMF_LSTM).
 * Training uses model_forward/model_loss/model_backward with x (B,T,F), y (B,T). */
#ifndef DL_ENGINE_MMF_LSTM_H
#define DL_ENGINE_MMF_LSTM_H

#include <stdint.h>

#include "model.h"

/* stateful inference over one run: x (n, F) -> out (n), state from zero at x[0] */
void mmf_lstm_predict_series(Model *m, const float *x, int64_t n, float *out);

#endif
