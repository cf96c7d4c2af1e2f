// Forward and backward over a sequence for the GRU cells, float and double.
#include "fastlstm/cells.hpp"

namespace fastlstm {

FASTLSTM_CELL(, GruResetAfter)
FASTLSTM_CELL(, GruResetBefore)

}  // namespace fastlstm
