package io.checkpointcache.flink.job;

import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.zip.CRC32C;
import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.CheckpointListener;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.runtime.checkpoint.CheckpointStatsSnapshot;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.minicluster.MiniClusterConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.streaming.util.TestStreamEnvironment;
import org.apache.flink.util.Collector;

/**
 * A stateful streaming job whose final state proves exactly-once recovery. Records 0..n-1 go to
 * key {@code i % keys}; every key holds a payload of {@code payloadBytes} (its record count, its
 * record sum, then filler seeded by the key) and every record XORs one byte of the filler. XOR
 * and sums commute, so the final state is the same in any arrival order, while a record lost or
 * applied twice by a bad restore changes it. When the input ends, each key's count, sum and
 * payload CRC32C land in {@link #RESULTS}; {@link #expected} computes the fault-free answer.
 *
 * <p>The source emits {@code keys / 2} records per checkpoint, so the checkpoints come at a known
 * pace. After checkpoint {@code failAfterCheckpoint} completed, subtask 0 runs {@link #hook} and
 * throws once; Flink restarts the job from the latest completed checkpoint. The coordination
 * lives in static fields: the job runs in this JVM (a MiniCluster), one run at a time.
 */
public final class StatefulJob {
  private StatefulJob() {}

  /**
   * @param keys number of keys (state entries)
   * @param payloadBytes bytes of state per key (at least 16); state size = keys × payloadBytes
   * @param rounds records per key
   * @param failAfterCheckpoint the failure comes after this checkpoint completed; 0: no failure
   */
  public record Params(
      int keys, int payloadBytes, int rounds, long failAfterCheckpoint, int parallelism)
      implements java.io.Serializable {
    public Params {
      if (payloadBytes < 16) throw new IllegalArgumentException("payloadBytes must be >= 16");
      if (keys < 2) throw new IllegalArgumentException("keys must be >= 2");
    }

    public long records() {
      return (long) keys * rounds;
    }

    public long stateBytes() {
      return (long) keys * payloadBytes;
    }
  }

  /** A key's final state. */
  public record KeyResult(long count, long sum, int payloadCrc32c) {}

  /** Runs in the failing task, before it throws: stop the agent, corrupt the cache, ... */
  public interface Hook {
    void beforeFailure(long lastCompletedCheckpoint) throws Exception;
  }

  public static final Map<Long, KeyResult> RESULTS = new ConcurrentHashMap<>();
  private static final AtomicBoolean ARMED = new AtomicBoolean();
  private static final AtomicLong LAST_COMPLETED = new AtomicLong();
  private static final AtomicLong FAILED_AFTER = new AtomicLong();
  private static final AtomicLong FAILED_AT_MS = new AtomicLong();
  private static final AtomicLong RESTORED_AT_MS = new AtomicLong();
  private static final AtomicLong MAX_ATTEMPT = new AtomicLong();
  private static volatile Hook hook = last -> {};

  /** Clears the results and arms the failure (when the params ask for one). */
  public static void reset(Params params, Hook beforeFailure) {
    RESULTS.clear();
    LAST_COMPLETED.set(0);
    FAILED_AFTER.set(0);
    FAILED_AT_MS.set(0);
    RESTORED_AT_MS.set(0);
    MAX_ATTEMPT.set(0);
    hook = beforeFailure == null ? last -> {} : beforeFailure;
    ARMED.set(params.failAfterCheckpoint() > 0);
  }

  /** The checkpoint the failure came after; 0 when it did not come. */
  public static long failedAfterCheckpoint() {
    return FAILED_AFTER.get();
  }

  /** When the injected failure was thrown (epoch ms); 0 when it was not. */
  public static long failedAtMillis() {
    return FAILED_AT_MS.get();
  }

  /** When the last restarted subtask had its state restored (epoch ms); 0 when none restarted. */
  public static long restoredAtMillis() {
    return RESTORED_AT_MS.get();
  }

  /** How often the job restarted: the highest attempt number any subtask reached. */
  public static int restarts() {
    return (int) MAX_ATTEMPT.get();
  }

  /**
   * Runs the job on a new MiniCluster (one TaskManager, a slot per subtask) configured with
   * {@code config}, waits for it to finish and returns its checkpoint statistics. File systems
   * must already be initialised ({@code FileSystem.initialize}): the MiniCluster does not.
   */
  public static CheckpointStatsSnapshot execute(Configuration config, Params p) throws Exception {
    MiniCluster cluster =
        new MiniCluster(
            new MiniClusterConfiguration.Builder()
                .setConfiguration(config)
                .setNumTaskManagers(1)
                .setNumSlotsPerTaskManager(p.parallelism())
                .withRandomPorts()
                .build());
    try {
      cluster.start();
      TestStreamEnvironment.setAsContext(cluster, p.parallelism());
      StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(config);
      build(env, p);
      JobClient job = env.executeAsync("checkpoint-cache stateful job");
      JobID jobId = job.getJobID();
      job.getJobExecutionResult().get();
      return cluster.getArchivedExecutionGraph(jobId).get().getCheckpointStatsSnapshot();
    } finally {
      TestStreamEnvironment.unsetAsContext();
      cluster.close();
    }
  }

  /** Adds the job to {@code env}. */
  public static void build(StreamExecutionEnvironment env, Params p) {
    int perCheckpoint = Math.max(1, p.keys() / 2);
    DataGeneratorSource<Long> source =
        new DataGeneratorSource<>(
            index -> index, p.records(), RateLimiterStrategy.perCheckpoint(perCheckpoint), Types.LONG);
    int keys = p.keys();
    env.fromSource(source, WatermarkStrategy.noWatermarks(), "numbers")
        .keyBy((KeySelector<Long, Long>) i -> i % keys, Types.LONG)
        .process(new PayloadUpdater(p))
        .returns(Types.VOID)
        .name("payload-updater")
        .sinkTo(new DiscardingSink<>());
  }

  /** The fault-free final state. */
  public static Map<Long, KeyResult> expected(Params p) {
    Map<Long, KeyResult> expected = new HashMap<>();
    byte[] payload = new byte[p.payloadBytes()];
    for (long key = 0; key < p.keys(); key++) {
      initialPayload(key, payload);
      long count = 0;
      long sum = 0;
      for (long i = key; i < p.records(); i += p.keys()) {
        count++;
        sum += i;
        mutate(payload, i);
      }
      ByteBuffer.wrap(payload).putLong(0, count).putLong(8, sum);
      expected.put(key, new KeyResult(count, sum, crc32c(payload)));
    }
    return expected;
  }

  private static void initialPayload(long key, byte[] payload) {
    SplittableRandom random = new SplittableRandom(key * 0x9E3779B97F4A7C15L + 1);
    for (int i = 16; i < payload.length; i += 8) {
      long r = random.nextLong();
      for (int b = 0; b < 8 && i + b < payload.length; b++) payload[i + b] = (byte) (r >>> (8 * b));
    }
    ByteBuffer.wrap(payload).putLong(0, 0).putLong(8, 0);
  }

  private static void mutate(byte[] payload, long record) {
    int filler = payload.length - 16;
    if (filler > 0) payload[16 + (int) (record % filler)] ^= (byte) (record * 31 + 7);
  }

  private static int crc32c(byte[] bytes) {
    CRC32C crc = new CRC32C();
    crc.update(bytes);
    return (int) crc.getValue();
  }

  /** The keyed state: one payload per key, updated by every record of the key. */
  static final class PayloadUpdater extends KeyedProcessFunction<Long, Long, Void>
      implements CheckpointListener {
    private static final long serialVersionUID = 1L;
    private final Params params;
    private transient ValueState<byte[]> payload;

    PayloadUpdater(Params params) {
      this.params = params;
    }

    @Override
    public void open(OpenContext openContext) {
      payload =
          getRuntimeContext()
              .getState(
                  new ValueStateDescriptor<>(
                      "payload", PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO));
      // Operator state is restored before open(): this is when this subtask has its state back.
      int attempt = getRuntimeContext().getTaskInfo().getAttemptNumber();
      MAX_ATTEMPT.accumulateAndGet(attempt, Math::max);
      if (attempt > 0) {
        RESTORED_AT_MS.accumulateAndGet(System.currentTimeMillis(), Math::max);
      }
    }

    @Override
    public void processElement(Long record, Context ctx, Collector<Void> out) throws Exception {
      maybeFail();
      byte[] bytes = payload.value();
      if (bytes == null) {
        bytes = new byte[params.payloadBytes()];
        initialPayload(ctx.getCurrentKey(), bytes);
        ctx.timerService().registerEventTimeTimer(Long.MAX_VALUE);
      }
      ByteBuffer view = ByteBuffer.wrap(bytes);
      view.putLong(0, view.getLong(0) + 1).putLong(8, view.getLong(8) + record);
      mutate(bytes, record);
      payload.update(bytes);
    }

    /** Fires once, when the input has ended (the final watermark). */
    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<Void> out) throws Exception {
      byte[] bytes = payload.value();
      ByteBuffer view = ByteBuffer.wrap(bytes);
      RESULTS.put(
          ctx.getCurrentKey(), new KeyResult(view.getLong(0), view.getLong(8), crc32c(bytes)));
    }

    @Override
    public void notifyCheckpointComplete(long checkpointId) {
      LAST_COMPLETED.accumulateAndGet(checkpointId, Math::max);
    }

    private void maybeFail() throws Exception {
      long last = LAST_COMPLETED.get();
      if (!ARMED.get()
          || last < params.failAfterCheckpoint()
          || getRuntimeContext().getTaskInfo().getIndexOfThisSubtask() != 0
          || !ARMED.compareAndSet(true, false)) {
        return;
      }
      FAILED_AFTER.set(last);
      hook.beforeFailure(last);
      FAILED_AT_MS.set(System.currentTimeMillis());
      throw new IllegalStateException("injected failure after checkpoint " + last);
    }
  }
}
