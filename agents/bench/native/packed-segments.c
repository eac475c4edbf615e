/*
 * What this machine does for small durable writes packed into shared segment files (issue #16), in
 * C so that nothing but the syscalls costs: `packed-segments <dir> <entries> <threads> <group>
 * <segment-mib>`. The limit the scale bench gives packed entries (--pack-max-bytes); the agent's
 * own packs are not this layout (it writes a new pack file per group commit, not a segment it
 * appends to), so this is the fastest durable grouped layout, not the agent's sequence in C.
 *
 * Each entry is one record appended to its thread's segment file: a 300-byte header (the size of
 * the agent's sidecar: magic, lengths, the key's hash, and a CRC32C over the header and the data,
 * by which a reader finds a torn tail after a crash and stops there) followed by the 4 KiB of
 * data, written with one write(2). After every <group> records the thread calls fdatasync(2) once:
 * those records are then durable, whole or (past a torn tail) absent, as the agent's answer
 * requires. A segment that reaches <segment-mib> MiB is closed and a new one created; its
 * directory is fsynced once, when the segment is created, before any record in it is counted.
 *
 * Prints one line: `<entries/s> <cpu seconds>`, like small-files.c. The bench runs it as
 * `<dir> <entries> 1 32 64` (small-files-limit.ts); by hand:
 *   cc -O2 -pthread -o /tmp/packed-segments agents/bench/native/packed-segments.c
 *   d=$(mktemp -d) && /tmp/packed-segments $d 30000 1 32 64; rm -rf $d
 * (docs/benchmarks.md, "Small writes against the machine's own limit", has its figures).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DATA_BYTES 4096
#define HEADER_BYTES 300
#define RECORD_BYTES (HEADER_BYTES + DATA_BYTES)
#define MAGIC 0x636b6353u /* "Sckc" */

static const char *root;
static long entries;
static int threads;
static int group;
static long segment_bytes;
static char data[DATA_BYTES];
static uint32_t crc_table[256];

static void die(const char *what, const char *path) {
  fprintf(stderr, "packed-segments: %s %s: %s\n", what, path, strerror(errno));
  exit(1);
}

static void crc32c_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
    crc_table[i] = c;
  }
}

static uint32_t crc32c(uint32_t crc, const unsigned char *p, size_t n) {
  crc = ~crc;
  while (n--) crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return ~crc;
}

static void fsync_dir(const char *path) {
  int fd = open(path, O_RDONLY | O_DIRECTORY);
  if (fd < 0) die("open", path);
  if (fsync(fd) != 0) die("fsync", path);
  close(fd);
}

/* Creates the thread's next segment and makes its name durable. */
static int new_segment(long thread, int number, char *path, size_t size) {
  snprintf(path, size, "%s/segments/%ld-%d", root, thread, number);
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND, 0640);
  if (fd < 0) die("open", path);
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/segments", root);
  fsync_dir(dir);
  return fd;
}

static void *worker(void *arg) {
  long t = (long)arg;
  char path[4096];
  unsigned char record[RECORD_BYTES];
  int number = 0;
  int fd = new_segment(t, number, path, sizeof path);
  long used = 0;
  int in_group = 0;
  memcpy(record + HEADER_BYTES, data, DATA_BYTES);
  for (long i = t; i < entries; i += threads) {
    if (used + RECORD_BYTES > segment_bytes) {
      if (in_group > 0 && fdatasync(fd) != 0) die("fdatasync", path);
      in_group = 0;
      close(fd);
      fd = new_segment(t, ++number, path, sizeof path);
      used = 0;
    }
    memset(record, 0, HEADER_BYTES);
    uint32_t magic = MAGIC, length = DATA_BYTES;
    memcpy(record, &magic, 4);
    memcpy(record + 4, &length, 4);
    memcpy(record + 12, &i, sizeof i); /* stands for the key's hash */
    uint32_t crc = crc32c(0, record + 12, RECORD_BYTES - 12);
    memcpy(record + 8, &crc, 4);
    for (size_t done = 0; done < RECORD_BYTES;) {
      ssize_t w = write(fd, record + done, RECORD_BYTES - done);
      if (w < 0) die("write", path);
      done += (size_t)w;
    }
    used += RECORD_BYTES;
    if (++in_group < group && i + threads < entries) continue;
    if (fdatasync(fd) != 0) die("fdatasync", path);
    in_group = 0;
  }
  close(fd);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr,
            "usage: packed-segments <dir> <entries> <threads> <group> <segment-mib>\n");
    return 2;
  }
  root = argv[1];
  entries = atol(argv[2]);
  threads = atoi(argv[3]);
  group = atoi(argv[4]);
  segment_bytes = atol(argv[5]) * 1024 * 1024;
  if (entries < 1 || threads < 1 || threads > 256 || group < 1 || segment_bytes < RECORD_BYTES) {
    fprintf(stderr, "packed-segments: bad arguments\n");
    return 2;
  }
  crc32c_init();
  memset(data, 'd', sizeof data);
  char path[4096];
  snprintf(path, sizeof path, "%s/segments", root);
  if (mkdir(path, 0750) != 0 && errno != EEXIST) die("mkdir", path);
  struct timespec start, end;
  clock_gettime(CLOCK_MONOTONIC, &start);
  pthread_t ts[256];
  for (long t = 0; t < threads; t++) pthread_create(&ts[t], NULL, worker, (void *)t);
  for (int t = 0; t < threads; t++) pthread_join(ts[t], NULL);
  clock_gettime(CLOCK_MONOTONIC, &end);
  double seconds = (end.tv_sec - start.tv_sec) + (end.tv_nsec - start.tv_nsec) / 1e9;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
               ru.ru_stime.tv_usec / 1e6;
  printf("%.0f %.3f\n", entries / seconds, cpu);
  return 0;
}
