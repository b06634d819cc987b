#ifndef APUS_LINUX_IO_H
#define APUS_LINUX_IO_H

/// Starts writeback of the dirty pages of `count` bytes at `offset` of `fd` and returns without
/// waiting for it: Linux's sync_file_range(SYNC_FILE_RANGE_WRITE), which glibc declares only
/// under _GNU_SOURCE and Swift's Glibc module does not import. Returns 0, or -1 with errno set.
/// Elsewhere a no-op that returns 0.
int apus_start_writeback(int fd, long long offset, long long count);

#endif
