package dev.parley.internal

import java.util.concurrent.atomic.AtomicInteger

/**
 * How many client loops and open connections exist in this process, for leak checks: a loop counts until its client
 * has stopped and released everything; a connection until the loop lets it go (the close frame's grace that may
 * follow is bounded). Updated
 * once per client and once per connection, never per frame.
 */
internal object Liveness {
    val loops = AtomicInteger()
    val sessions = AtomicInteger()
}
