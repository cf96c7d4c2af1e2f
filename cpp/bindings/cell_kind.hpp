// The cells by the names Python uses for them.
#pragma once

#include <stdexcept>
#include <string>

#include "fastlstm/cells.hpp"

namespace fastlstm::bindings {

// Calls fn(Cell{}) for the cell named `name`.
template <typename Fn>
auto with_cell(const std::string& name, Fn&& fn) {
  if (name == "lstm") return fn(LstmCell{});
  if (name == "gru") return fn(GruResetAfter{});
  if (name == "gru_reset_before") return fn(GruResetBefore{});
  if (name == "rnn_tanh") return fn(RnnTanh{});
  if (name == "rnn_relu") return fn(RnnRelu{});
  throw std::invalid_argument(
      "cell: expected one of lstm, gru, gru_reset_before, rnn_tanh, rnn_relu, got " + name);
}

}  // namespace fastlstm::bindings
