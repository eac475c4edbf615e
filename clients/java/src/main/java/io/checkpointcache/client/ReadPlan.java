package io.checkpointcache.client;

import io.checkpointcache.client.remote.RemoteStore;
import io.checkpointcache.v1.CheckpointCacheGrpc;
import java.net.URI;

/**
 * What the client hands one read ({@link CheckpointReadStream}) and each of its phases: the range,
 * the sources, the deadlines and where to count. Built by {@link CheckpointCacheClient}; immutable.
 */
record ReadPlan(
    CheckpointCacheGrpc.CheckpointCacheStub stub,
    AgentChannel channel,
    String key,
    long offset,
    Long length,
    int maxChunkSize,
    URI remoteUri,
    RemoteStore remoteStore,
    long firstMessageTimeoutMs,
    long idleTimeoutMs,
    /** Deadline of the best-effort ReportCorrupt call. */
    long reportTimeoutMs,
    ClientStats stats,
    /** Skip the agent: a previous read of the same file already showed it cannot serve it. */
    boolean remoteOnly,
    /** The remote file the entry must be a copy of; null: any entry under the key will do. */
    RemoteVersion expected,
    /** Set: try the same-node short circuit first. */
    ShortCircuitRead.Setup shortCircuit) {}
