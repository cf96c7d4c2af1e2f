// The LSTM entry points of the core, compiled for float and double in lstm.cpp. Callers pass raw
// pointers to buffers they own; shapes and row order are in SeqShape. Nothing here validates: the
// binding does, before it calls.
#pragma once

#include "fastlstm/lstm_cell.hpp"
#include "fastlstm/sequence.hpp"
#include "fastlstm/stream.hpp"

namespace fastlstm {

template <typename T>
void lstm_forward(const SeqShape& s, const Weights<T>& w, const ForwardBuffers<T>& buf);

template <typename T>
void lstm_backward(const SeqShape& s, const Weights<T>& w, const BackwardBuffers<T>& buf);

template <typename T>
using LstmStream = Stream<LstmCell, T>;

extern template void lstm_forward<float>(const SeqShape&, const Weights<float>&,
                                         const ForwardBuffers<float>&);
extern template void lstm_forward<double>(const SeqShape&, const Weights<double>&,
                                          const ForwardBuffers<double>&);
extern template void lstm_backward<float>(const SeqShape&, const Weights<float>&,
                                          const BackwardBuffers<float>&);
extern template void lstm_backward<double>(const SeqShape&, const Weights<double>&,
                                           const BackwardBuffers<double>&);

}  // namespace fastlstm
