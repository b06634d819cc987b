#ifndef APUS_CRC32C_H
#define APUS_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/// Extends a CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) over `length` bytes.
/// Start with crc = 0; the pre- and post-inversion are done inside, so calls chain:
/// apus_crc32c(apus_crc32c(0, a, n), b, m) == apus_crc32c(0, a||b, n+m).
uint32_t apus_crc32c(uint32_t crc, const void *data, size_t length);

/// 1 when the SSE4.2 CRC32 instruction is used, 0 when the portable table is.
int apus_crc32c_is_hardware(void);

/// The portable slicing-by-8 implementation, exposed so tests can compare both paths.
uint32_t apus_crc32c_portable(uint32_t crc, const void *data, size_t length);

#endif
