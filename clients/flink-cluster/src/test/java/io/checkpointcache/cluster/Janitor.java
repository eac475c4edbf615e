package io.checkpointcache.cluster;

import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

/**
 * Undoes what the harness made, however the harness ends. A shell is started first and told,
 * one line each, the command that removes every thing as it is made (a namespace with all its
 * processes, a link, a lock file, a work dir); when its standard input closes it runs them, last
 * made first. The harness's JVM holds the only writer of that pipe, so the removal also happens
 * when the JVM is killed with SIGKILL, where no shutdown hook runs (the watchdog of
 * test/src/helpers/netns.ts, told incrementally).
 *
 * <p>Owns: the shell. Never: run a command it was not told, or outlive the removal.
 */
final class Janitor implements AutoCloseable {
  // Ignores the terminal's signals so that a Ctrl-C reaching the whole process group does not
  // kill the janitor before it has cleaned up; runs the lines in reverse.
  private static final String SCRIPT =
      "trap '' INT TERM HUP; cmds=''; "
          + "while IFS= read -r line; do cmds=\"$line; $cmds\"; done; "
          + "eval \"$cmds\" >/dev/null 2>&1";

  private final Process shell;
  private final Writer commands;
  private boolean closed;

  private Janitor(Process shell) {
    this.shell = shell;
    this.commands = new OutputStreamWriter(shell.getOutputStream(), StandardCharsets.UTF_8);
  }

  static Janitor start() throws IOException {
    Process shell =
        new ProcessBuilder("sh", "-c", SCRIPT)
            .redirectOutput(ProcessBuilder.Redirect.DISCARD)
            .redirectError(ProcessBuilder.Redirect.DISCARD)
            .start();
    Janitor janitor = new Janitor(shell);
    Runtime.getRuntime().addShutdownHook(new Thread(janitor::close, "janitor"));
    return janitor;
  }

  /** Runs {@code shellCommand} at the end (before the ones registered earlier). One line. */
  synchronized void atEnd(String shellCommand) {
    if (shellCommand.contains("\n")) throw new IllegalArgumentException("one line: " + shellCommand);
    if (closed) throw new IllegalStateException("the janitor has already cleaned up");
    try {
      commands.write("{ " + shellCommand + "; } 2>/dev/null\n");
      commands.flush();
    } catch (IOException e) {
      throw new IllegalStateException("the janitor shell is gone: nothing would be cleaned up", e);
    }
  }

  /** Runs every registered command now and waits for them (at most a minute). Idempotent. */
  @Override
  public synchronized void close() {
    if (closed) return;
    closed = true;
    try {
      commands.close();
      if (!shell.waitFor(60, TimeUnit.SECONDS)) shell.destroyForcibly();
    } catch (IOException e) {
      // The shell is gone already; it ran the commands when the pipe broke.
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
