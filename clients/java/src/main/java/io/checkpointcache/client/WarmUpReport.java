package io.checkpointcache.client;

/**
 * What {@link CheckpointCacheClient#warmUpReadPath} did: one line for a log.
 *
 * @param rounds rounds of reads of the synthetic entry (each: large reads, small typed reads,
 *     seeks); 0 when that part did not run
 * @param shortCircuitBytes bytes of the synthetic entry read and verified through the short circuit
 * @param shortCircuitMisses reads of the synthetic entry the short circuit did not serve whole
 *     (0 unless something is wrong with the scratch directory)
 * @param syntheticProblem why the synthetic part stopped or did not run; null when it ran through
 * @param agentAnswer how the agent answered the read of a key that cannot exist, e.g. {@code Read
 *     NOT_FOUND} (a Lease NOT_FOUND goes on to Read, as in a restore)
 * @param elapsedMillis wall time of the whole warm-up
 * @param cpuMillis CPU time of the calling thread (the read-ahead thread's is not in it)
 */
public record WarmUpReport(
    int rounds,
    long shortCircuitBytes,
    long shortCircuitMisses,
    String syntheticProblem,
    String agentAnswer,
    long elapsedMillis,
    long cpuMillis) {

  @Override
  public String toString() {
    return "read path warmed in "
        + elapsedMillis
        + " ms ("
        + cpuMillis
        + " ms CPU): "
        + (syntheticProblem == null
            ? rounds + " rounds over a synthetic entry, " + shortCircuitBytes + " bytes verified"
            : "synthetic entry: " + syntheticProblem)
        + "; agent: "
        + agentAnswer;
  }
}
