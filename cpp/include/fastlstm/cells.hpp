// The cells the core is compiled for, and their forward and backward over a sequence, compiled
// once per cell and dtype in cpp/src/ (declared extern here so that callers do not instantiate
// them again). Callers pass raw pointers to buffers they own; shapes and row order are in
// SeqShape. Nothing here validates: the binding does, before it calls.
#pragma once

#include "fastlstm/gru_cell.hpp"
#include "fastlstm/lstm_cell.hpp"
#include "fastlstm/rnn_cell.hpp"
#include "fastlstm/sequence_backward.hpp"
#include "fastlstm/stream.hpp"

namespace fastlstm {

using GruResetAfter = GruCell<true>;
using GruResetBefore = GruCell<false>;
using RnnTanh = RnnCell<Activation::kTanh>;
using RnnRelu = RnnCell<Activation::kRelu>;

#define FASTLSTM_CELL_TEMPLATES(prefix, Cell, T)                             \
  prefix template bool forward<Cell, T>(const SeqShape&, const Weights<T>&,  \
                                        const ForwardBuffers<T>&);           \
  prefix template void backward<Cell, T>(const SeqShape&, const Weights<T>&, \
                                         const BackwardBuffers<T>&);
#define FASTLSTM_CELL(prefix, Cell)            \
  FASTLSTM_CELL_TEMPLATES(prefix, Cell, float) \
  FASTLSTM_CELL_TEMPLATES(prefix, Cell, double)

FASTLSTM_CELL(extern, LstmCell)
FASTLSTM_CELL(extern, GruResetAfter)
FASTLSTM_CELL(extern, GruResetBefore)
FASTLSTM_CELL(extern, RnnTanh)
FASTLSTM_CELL(extern, RnnRelu)

}  // namespace fastlstm
