/*
 * The machine's limit for small durable writes (issue #16), in C so that nothing but the
 * syscalls costs: `small-files <dir> <entries> <threads> <files-per-entry> <group>`.
 *
 * Each entry is what the agent puts on disk for a 4 KiB write, with the same durability: a
 * 4 KiB data file (and, with files-per-entry 2, a ~300-byte sidecar) created in <dir>/tmp,
 * written, fsynced and closed; then, per group of <group> entries of one thread, every file is
 * renamed into <dir>/entries/<2 hex>/ and each of those directories is fsynced once. With
 * files-per-entry 1 it is the bare rate of one fsynced file per entry.
 *
 * Prints one line: `<entries/s> <cpu seconds>`. The bench (scale-bench.ts) compiles it with `cc`
 * and keeps the fastest thread count, as every other limit is the fastest the machine does.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DATA_BYTES 4096
#define SIDECAR_BYTES 300
#define SHARDS 256
#define MAX_GROUP 256

static const char *root;
static long entries;
static int threads;
static int files_per_entry;
static int group;
static char data[DATA_BYTES];
static char sidecar[SIDECAR_BYTES];

static void die(const char *what, const char *path) {
  fprintf(stderr, "small-files: %s %s: %s\n", what, path, strerror(errno));
  exit(1);
}

static void write_file(const char *path, const char *bytes, size_t n) {
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0640);
  if (fd < 0) die("open", path);
  for (size_t done = 0; done < n;) {
    ssize_t w = write(fd, bytes + done, n - done);
    if (w < 0) die("write", path);
    done += (size_t)w;
  }
  if (fsync(fd) != 0) die("fsync", path);
  close(fd);
}

static void fsync_dir(const char *path) {
  int fd = open(path, O_RDONLY | O_DIRECTORY);
  if (fd < 0) die("open", path);
  if (fsync(fd) != 0) die("fsync", path);
  close(fd);
}

static void *worker(void *arg) {
  long t = (long)arg;
  char tmp[2][4096], dst[2][4096], dir[4096];
  long ids[MAX_GROUP];
  int in_group = 0;
  for (long i = t; i < entries; i += threads) {
    for (int f = 0; f < files_per_entry; f++) {
      snprintf(tmp[f], sizeof tmp[f], "%s/tmp/%ld.%d", root, i, f);
      write_file(tmp[f], f == 0 ? data : sidecar, f == 0 ? DATA_BYTES : SIDECAR_BYTES);
    }
    ids[in_group++] = i;
    if (in_group < group && i + threads < entries) continue;
    int dirty[SHARDS] = {0};
    for (int g = 0; g < in_group; g++) {
      int shard = (int)((ids[g] * 2654435761u) % SHARDS);
      for (int f = 0; f < files_per_entry; f++) {
        snprintf(tmp[f], sizeof tmp[f], "%s/tmp/%ld.%d", root, ids[g], f);
        snprintf(dst[f], sizeof dst[f], "%s/entries/%02x/%ld.%d", root, shard, ids[g], f);
        if (rename(tmp[f], dst[f]) != 0) die("rename", tmp[f]);
      }
      dirty[shard] = 1;
    }
    for (int s = 0; s < SHARDS; s++) {
      if (!dirty[s]) continue;
      snprintf(dir, sizeof dir, "%s/entries/%02x", root, s);
      fsync_dir(dir);
    }
    in_group = 0;
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: small-files <dir> <entries> <threads> <files-per-entry> <group>\n");
    return 2;
  }
  root = argv[1];
  entries = atol(argv[2]);
  threads = atoi(argv[3]);
  files_per_entry = atoi(argv[4]);
  group = atoi(argv[5]);
  if (entries < 1 || threads < 1 || files_per_entry < 1 || files_per_entry > 2 || group < 1 ||
      group > MAX_GROUP) {
    fprintf(stderr, "small-files: bad arguments\n");
    return 2;
  }
  memset(data, 'd', sizeof data);
  memset(sidecar, 's', sizeof sidecar);
  char path[4096];
  snprintf(path, sizeof path, "%s/tmp", root);
  if (mkdir(path, 0750) != 0 && errno != EEXIST) die("mkdir", path);
  snprintf(path, sizeof path, "%s/entries", root);
  if (mkdir(path, 0750) != 0 && errno != EEXIST) die("mkdir", path);
  for (int s = 0; s < SHARDS; s++) {
    snprintf(path, sizeof path, "%s/entries/%02x", root, s);
    if (mkdir(path, 0750) != 0 && errno != EEXIST) die("mkdir", path);
  }
  struct timespec start, end;
  clock_gettime(CLOCK_MONOTONIC, &start);
  pthread_t ts[256];
  if (threads > 256) threads = 256;
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
