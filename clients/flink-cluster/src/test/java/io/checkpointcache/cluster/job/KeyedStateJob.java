package io.checkpointcache.cluster.job;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.zip.CRC32C;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.util.Collector;

/**
 * The keyed stateful job the cluster runs, submitted as a jar through the REST API. Records
 * 0..n-1 (a deterministic, checkpointed source) go to key {@code i % keys}; each key holds a
 * payload of {@code payloadBytes}: its record count, its record sum, then filler seeded by the
 * key, one byte of which every record XORs. XOR and sums commute, so the final state does not
 * depend on arrival order, while a record lost or applied twice by a bad restore changes it.
 *
 * <p>The job talks to the harness through files in {@code --out} (every process shares the file
 * system; namespaces separate only the network): when the input has ended, every key's count, sum
 * and payload CRC32C go to {@code results/<subtask>-<attempt>}; every subtask attempt writes
 * {@code opened/<subtask>-<attempt>} (time, TaskManager) once its state is restored. The source
 * emits {@code keys / 2} records per checkpoint, so checkpoints come at a known pace. With
 * {@code --fail-trigger FILE}, subtask 0's first attempt throws once that file exists (its time
 * goes to {@code failed-at}): a task failure while its TaskManager lives; its attempt N > 0 throws
 * once {@code FILE-N} exists (time in {@code failed-at-N}), for a second fault after a first.
 */
public final class KeyedStateJob {
  private KeyedStateJob() {}

  /** The job's shape; {@link #fromArgs} reads it from {@code --keys N --payload-bytes N --rounds N}. */
  public record Params(int keys, int payloadBytes, int rounds) implements java.io.Serializable {
    public long records() {
      return (long) keys * rounds;
    }

    public static Params fromArgs(Map<String, String> args) {
      return new Params(
          Integer.parseInt(args.get("keys")),
          Integer.parseInt(args.get("payload-bytes")),
          Integer.parseInt(args.get("rounds")));
    }
  }

  /** A key's final state. */
  public record KeyResult(long count, long sum, int payloadCrc32c) {
    String line(long key) {
      return key + " " + count + " " + sum + " " + payloadCrc32c;
    }

    /** Parses {@code key count sum crc}; the key goes to index 0 of {@code key}. */
    public static KeyResult parse(String line, long[] key) {
      String[] f = line.trim().split(" ");
      key[0] = Long.parseLong(f[0]);
      return new KeyResult(Long.parseLong(f[1]), Long.parseLong(f[2]), Integer.parseInt(f[3]));
    }
  }

  public static void main(String[] argv) throws Exception {
    Map<String, String> args = new HashMap<>();
    for (int i = 0; i + 1 < argv.length; i += 2) args.put(argv[i].replaceFirst("^--", ""), argv[i + 1]);
    Params p = Params.fromArgs(args);
    String out = args.get("out");
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
    int keys = p.keys();
    DataGeneratorSource<Long> source =
        new DataGeneratorSource<>(
            index -> index,
            p.records(),
            RateLimiterStrategy.perCheckpoint(Math.max(1, keys / 2)),
            Types.LONG);
    env.fromSource(source, WatermarkStrategy.noWatermarks(), "numbers")
        .keyBy((KeySelector<Long, Long>) i -> i % keys, Types.LONG)
        .process(new PayloadUpdater(p, out, args.get("fail-trigger")))
        .returns(Types.VOID)
        .name("payload-updater")
        .sinkTo(new DiscardingSink<>());
    env.execute("checkpoint-cache keyed state job");
  }

  /** The fault-free final state. */
  public static Map<Long, KeyResult> expected(Params p) {
    Map<Long, KeyResult> expected = new HashMap<>();
    byte[] payload = new byte[p.payloadBytes()];
    for (long key = 0; key < p.keys(); key++) {
      initialPayload(key, payload);
      for (long i = key; i < p.records(); i += p.keys()) apply(payload, i);
      expected.put(key, resultOf(payload));
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

  private static void apply(byte[] payload, long record) {
    ByteBuffer view = ByteBuffer.wrap(payload);
    view.putLong(0, view.getLong(0) + 1).putLong(8, view.getLong(8) + record);
    int filler = payload.length - 16;
    if (filler > 0) payload[16 + (int) (record % filler)] ^= (byte) (record * 31 + 7);
  }

  private static KeyResult resultOf(byte[] payload) {
    ByteBuffer view = ByteBuffer.wrap(payload);
    CRC32C crc = new CRC32C();
    crc.update(payload);
    return new KeyResult(view.getLong(0), view.getLong(8), (int) crc.getValue());
  }

  /** The keyed state: one payload per key, updated by every record of the key. */
  static final class PayloadUpdater extends KeyedProcessFunction<Long, Long, Void> {
    private static final long serialVersionUID = 1L;
    private final Params params;
    private final String out;
    private transient ValueState<byte[]> payload;
    private transient BufferedWriter results;
    private final String failTrigger;
    private transient String attemptName;
    /** The trigger file of this attempt (subtask 0 only); null: it never fails. */
    private transient Path trigger;
    private transient String failedAt;
    private transient long records;

    PayloadUpdater(Params params, String out, String failTrigger) {
      this.params = params;
      this.out = out;
      this.failTrigger = failTrigger;
    }

    @Override
    public void open(OpenContext openContext) throws IOException {
      payload =
          getRuntimeContext()
              .getState(
                  new ValueStateDescriptor<>(
                      "payload", PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO));
      var task = getRuntimeContext().getTaskInfo();
      attemptName = task.getIndexOfThisSubtask() + "-" + task.getAttemptNumber();
      if (failTrigger != null && task.getIndexOfThisSubtask() == 0) {
        int attempt = task.getAttemptNumber();
        trigger = Path.of(attempt == 0 ? failTrigger : failTrigger + "-" + attempt);
        failedAt = attempt == 0 ? "failed-at" : "failed-at-" + attempt;
      }
      // Keyed state is restored before open(): this is when this subtask has its state back.
      Path opened = Files.createDirectories(Path.of(out, "opened")).resolve(attemptName);
      Files.writeString(
          opened,
          System.currentTimeMillis() + " " + System.getProperty("ckc.taskmanager", "?") + "\n",
          StandardCharsets.UTF_8);
    }

    @Override
    public void processElement(Long record, Context ctx, Collector<Void> collector) throws Exception {
      // The harness asks for a task failure by creating the trigger file; looked for now and then.
      if (trigger != null && ++records % 64 == 0 && Files.exists(trigger)) {
        Files.writeString(Path.of(out, failedAt), System.currentTimeMillis() + "\n", StandardCharsets.UTF_8);
        throw new IllegalStateException("injected task failure");
      }
      byte[] bytes = payload.value();
      if (bytes == null) {
        bytes = new byte[params.payloadBytes()];
        initialPayload(ctx.getCurrentKey(), bytes);
        ctx.timerService().registerEventTimeTimer(Long.MAX_VALUE);
      }
      apply(bytes, record);
      payload.update(bytes);
    }

    /** Fires once per key, when the input has ended (the final watermark). */
    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<Void> collector) throws IOException {
      if (results == null) {
        Path file = Files.createDirectories(Path.of(out, "results")).resolve(attemptName);
        results =
            Files.newBufferedWriter(
                file, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
      }
      results.write(resultOf(payload.value()).line(ctx.getCurrentKey()));
      results.newLine();
    }

    @Override
    public void close() throws IOException {
      if (results != null) results.close();
    }
  }
}
