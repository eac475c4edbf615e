package io.checkpointcache.cluster;

import java.io.File;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hdfs.HdfsConfiguration;
import org.apache.hadoop.hdfs.server.datanode.DataNode;
import org.apache.hadoop.hdfs.server.namenode.NameNode;
import org.apache.hadoop.metrics2.lib.DefaultMetricsSystem;

/**
 * One NameNode and one DataNode in this process: the cluster's remote file system, run by the
 * harness inside the "storage" namespace. Both bind the namespace's address, so clients in other
 * namespaces reach the DataNode at the address it registered with. Prints {@link #READY} once the
 * DataNode has registered; runs until killed.
 *
 * <p>Arguments: {@code <address> <namenode port> <dir>}.
 */
public final class HdfsServer {
  static final String READY = "HDFS READY";

  private HdfsServer() {}

  public static void main(String[] args) {
    try {
      serve(args);
    } catch (Throwable e) {
      // Hadoop's non-daemon threads would keep a failed start alive.
      e.printStackTrace();
      System.exit(1);
    }
  }

  private static void serve(String[] args) throws Exception {
    // Format and NameNode in one JVM register the same metrics sources twice otherwise (what
    // MiniDFSCluster does too).
    DefaultMetricsSystem.setMiniClusterMode(true);
    String address = args[0];
    int port = Integer.parseInt(args[1]);
    File dir = new File(args[2]);
    Configuration conf = new HdfsConfiguration();
    conf.set("fs.defaultFS", "hdfs://" + address + ":" + port);
    conf.set("hadoop.tmp.dir", new File(dir, "tmp").getPath());
    conf.set("dfs.namenode.rpc-address", address + ":" + port);
    conf.set("dfs.namenode.http-address", address + ":0");
    conf.set("dfs.namenode.name.dir", new File(dir, "name").toURI().toString());
    conf.set("dfs.datanode.data.dir", new File(dir, "data").toURI().toString());
    conf.set("dfs.datanode.address", address + ":0");
    conf.set("dfs.datanode.http.address", address + ":0");
    conf.set("dfs.datanode.ipc.address", address + ":0");
    conf.setInt("dfs.replication", 1);
    conf.setBoolean("dfs.permissions.enabled", false);
    // A fresh namespace has no blocks to wait for.
    conf.setInt("dfs.namenode.safemode.extension", 0);
    conf.setInt("dfs.namenode.safemode.min.datanodes", 0);
    // The DataNode's first block report and heartbeats come at once, not after minutes.
    conf.setInt("dfs.blockreport.initialDelay", 0);
    conf.setLong("dfs.heartbeat.interval", 1);

    NameNode.format(conf);
    NameNode nameNode = NameNode.createNameNode(new String[0], conf);
    DataNode dataNode = DataNode.createDataNode(new String[0], conf);
    long deadline = System.nanoTime() + 120_000_000_000L;
    while (nameNode.getNamesystem().getNumLiveDataNodes() < 1 || !dataNode.isDatanodeFullyStarted()) {
      if (System.nanoTime() > deadline) throw new IllegalStateException("the DataNode did not register");
      Thread.sleep(100);
    }
    System.out.println(READY + " hdfs://" + address + ":" + port);
    System.out.flush();
    nameNode.join();
  }
}
