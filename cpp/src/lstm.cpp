// Forward and backward over a sequence for the LSTM cell, float and double.
#include "fastlstm/cells.hpp"

namespace fastlstm {

FASTLSTM_CELL(, LstmCell)

}  // namespace fastlstm
