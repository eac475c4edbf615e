package io.checkpointcache.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.Test;

class PathMappingTest {
  private static PathMapping mapping(String target) {
    return new PathMapping(CheckpointCacheSettings.normaliseTarget(target));
  }

  @Test
  void mapsBelowTheRootOfALocalTarget() {
    PathMapping m = mapping("file:///");
    Path real = m.toTarget(new Path("ckc:///tmp/ckpt/chk-1/a"));
    assertEquals("file:/tmp/ckpt/chk-1/a", real.toString());
    assertEquals("file:/tmp/ckpt/chk-1/a", PathMapping.key(real));
    assertEquals(new Path("ckc:///tmp/ckpt/chk-1/a"), m.toCkc(real));
  }

  @Test
  void mapsBelowAPrefixWithAnAuthority() {
    PathMapping m = mapping("hdfs://nn:8020/flink/");
    Path real = m.toTarget(new Path("ckc:///ckpt/job/chk-3/x"));
    assertEquals("hdfs://nn:8020/flink/ckpt/job/chk-3/x", PathMapping.key(real));
    assertEquals("ckc:/ckpt/job/chk-3/x", m.toCkc(real).toString());
    assertEquals("hdfs://nn:8020/flink", PathMapping.key(m.toTarget(new Path("ckc:///"))));
    assertEquals("ckc:/", m.toCkc(new Path("hdfs://nn:8020/flink")).toString());
  }

  @Test
  void sameFileSameKeyWhateverTheSpelling() {
    PathMapping m = mapping("file:///data");
    assertEquals(
        PathMapping.key(m.toTarget(new Path("ckc:///a//b/"))),
        PathMapping.key(m.toTarget(new Path("ckc:/a/b"))));
  }

  @Test
  void keyPrefixOfADirectoryEndsWithOneSlash() {
    assertEquals("hdfs://nn/f/a/", PathMapping.keyPrefix(new Path("hdfs://nn/f/a")));
    PathMapping local = mapping("file:///");
    Path root = local.toTarget(new Path("ckc:///"));
    assertEquals("file:/", PathMapping.keyPrefix(root));
    assertEquals(true, PathMapping.key(local.toTarget(new Path("ckc:///a"))).startsWith("file:/"));
  }

  @Test
  void rejectsOtherSchemesAndAuthorities() {
    PathMapping m = mapping("file:///data");
    assertThrows(IllegalArgumentException.class, () -> m.toTarget(new Path("hdfs://nn/x")));
    assertThrows(IllegalArgumentException.class, () -> m.toTarget(new Path("ckc://host/x")));
    assertThrows(IllegalArgumentException.class, () -> m.toCkc(new Path("file:/elsewhere/x")));
    assertThrows(IllegalArgumentException.class, () -> m.toCkc(new Path("file:/database/x")));
  }
}
