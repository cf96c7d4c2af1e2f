// Forward and backward over a sequence for the RNN cells, float and double.
#include "fastlstm/cells.hpp"

namespace fastlstm {

FASTLSTM_CELL(, RnnTanh)
FASTLSTM_CELL(, RnnRelu)

}  // namespace fastlstm
