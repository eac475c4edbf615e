package io.checkpointcache.client;

import io.checkpointcache.v1.EntryInfo;
import java.util.List;

/**
 * One page of a node's entries, in key order.
 *
 * @param nextPageToken empty on the last page
 */
public record ListPage(List<EntryInfo> entries, String nextPageToken) {
  public ListPage {
    entries = List.copyOf(entries);
  }
}
