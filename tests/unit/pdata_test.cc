#include <gtest/gtest.h>

#include "model/pdata/checksum.h"

TEST(Crc32c, StandardVector) {
  // The standard CRC-32C check value of "123456789" is 0xE3069283 (with the usual
  // initial and final inversion).
  const char* s = "123456789";
  EXPECT_EQ(thinsim::pdata::crc32c_update(0xffffffffu, s, 9) ^ 0xffffffffu, 0xE3069283u);
}
