package dev.parley.support

import dev.parley.DisconnectReason
import dev.parley.Frame
import dev.parley.Parley
import dev.parley.ParleyOptions
import kotlinx.coroutines.withTimeout
import kotlin.time.Duration.Companion.seconds

/**
 * What one connection attempt with [options] (reconnection off) comes to: the echo of [text] when it connects, or
 * how it ended when it does not. The client is stopped afterwards. For reach specs, where each case is one attempt.
 */
suspend fun echoAttempt(options: ParleyOptions, text: String): Seen {
    require(options.reconnect == null) { "echoAttempt: one attempt only, so reconnect must be off" }
    val handler = recorder()
    val client = Parley.start(handler, Unit, options)
    try {
        val first = handler.next(15.seconds)
        if (first !is Seen.Connected) return first
        client.send(Frame.Text(text))
        return handler.next(10.seconds)
    } finally {
        withTimeout(10.seconds) { client.stop() }
    }
}

/** The cause of a [DisconnectReason.ConnectFailed] this attempt ended with; an AssertionError for anything else. */
fun Seen.connectFailure(): Throwable {
    val reason = (this as? Seen.Disconnected)?.reason
    return (reason as? DisconnectReason.ConnectFailed)?.cause
        ?: throw AssertionError("expected the attempt to end with ConnectFailed, but it came to $this")
}
