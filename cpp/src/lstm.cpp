// LSTM forward and backward: the shared sequence walk with the LSTM cell, for float and double.
#include "fastlstm/lstm.hpp"

namespace fastlstm {

template <typename T>
void lstm_forward(const SeqShape& s, const Weights<T>& w, const ForwardBuffers<T>& buf) {
  forward<LstmCell>(s, w, buf);
}

template <typename T>
void lstm_backward(const SeqShape& s, const Weights<T>& w, const BackwardBuffers<T>& buf) {
  backward<LstmCell>(s, w, buf);
}

template void lstm_forward<float>(const SeqShape&, const Weights<float>&,
                                  const ForwardBuffers<float>&);
template void lstm_forward<double>(const SeqShape&, const Weights<double>&,
                                   const ForwardBuffers<double>&);
template void lstm_backward<float>(const SeqShape&, const Weights<float>&,
                                   const BackwardBuffers<float>&);
template void lstm_backward<double>(const SeqShape&, const Weights<double>&,
                                    const BackwardBuffers<double>&);

}  // namespace fastlstm
