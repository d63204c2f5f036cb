#!/bin/bash
# test_kill_campaign.sh: a short kill campaign (3 kills) for ctest; the long one
# (N >= 20) is run by hand: bash tests/sh/kill_campaign.sh 20 (docs/reliability.md).
exec bash "$(dirname "$0")/kill_campaign.sh" 3 7
