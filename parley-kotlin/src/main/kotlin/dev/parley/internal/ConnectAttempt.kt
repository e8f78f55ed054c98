package dev.parley.internal

import dev.parley.DisconnectReason
import dev.parley.ParleyOptions
import dev.parley.internal.deflate.DeflateNegotiation
import dev.parley.internal.deflate.deflating
import dev.parley.transport.HandshakeRejectedException
import dev.parley.transport.OpenRequest
import dev.parley.transport.Transport
import dev.parley.transport.TransportSession
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.TimeoutCancellationException
import kotlinx.coroutines.channels.SendChannel
import kotlinx.coroutines.currentCoroutineContext
import kotlinx.coroutines.ensureActive
import kotlinx.coroutines.launch
import kotlinx.coroutines.withTimeout
import java.net.URI

/**
 * An attempt's session, reported to the loop; the loop takes it over or closes it, never neither. [uri] is where it
 * went (the connection info provider may have chosen another URL than the options').
 */
internal class Opened(
    val session: TransportSession,
    val uri: URI,
) : LoopInput

/**
 * Starts one connection attempt, bounded as a whole by the connect timeout, and reports its outcome to [events]
 * tagged with [tag]: [Opened], or [Event.AttemptFailed].
 *
 * A session it opens is always either handed to the loop or closed. The session is kept in a local slot *inside*
 * the timeout block, so it is not lost when the timeout (or a cancellation of the attempt) strikes just as
 * `transport.open` returns — a value returned through `withTimeout` can otherwise vanish with the cancellation. Once
 * the Opened report is in [events], the channel's undelivered-element hook closes it if the loop ends without
 * reading it (see ConnectionLoop).
 */
internal fun CoroutineScope.launchAttempt(
    transport: Transport,
    prepare: suspend () -> OpenRequest,
    options: ParleyOptions,
    tag: Long,
    events: SendChannel<Tagged>,
): Job = launch {
    var opened: TransportSession? = null
    var uri: URI? = null
    try {
        val outcome =
            try {
                withTimeout(options.connectTimeout) {
                    val request = connectionInfo(prepare)
                    uri = request.uri
                    val session = transport.open(request)
                    opened = session
                    // Extensions are checked here for every transport; a 101 that selects what we did not offer is
                    // rejected like any other bad upgrade. Its session leaves the slot first: a session in the slot
                    // counts as opened.
                    val deflate =
                        try {
                            DeflateNegotiation.accept(session.responseHeaders, options.compression)
                        } catch (e: HandshakeRejectedException) {
                            opened = null
                            session.abort()
                            throw e
                        }
                    if (deflate != null) {
                        opened = deflating(session, deflate, options.compression!!, options.maxFrameSize)
                    }
                }
                null
            } catch (e: TimeoutCancellationException) {
                DisconnectReason.ConnectTimedOut(options.connectTimeout)
            } catch (e: CancellationException) {
                throw e
            } catch (e: ConnectionInfoException) {
                DisconnectReason.ConnectionInfoFailed(e.cause!!)
            } catch (e: HandshakeRejectedException) {
                DisconnectReason.HandshakeRejected(e.status, options.redacted(e.headers), e.message ?: "")
            } catch (e: Throwable) {
                // Ktor's own connect timeouts surface as their exception classes, wrapped.
                val timedOut = causes(e).any { it.javaClass.simpleName.contains("ConnectTimeout") }
                if (timedOut) {
                    DisconnectReason.ConnectTimedOut(
                        options.connectTimeout,
                    )
                } else {
                    DisconnectReason.ConnectFailed(e)
                }
            }
        // A session that opened as the timeout struck did open: hand it over rather than report a timeout.
        val session = opened
        if (session != null) {
            events.send(Tagged(tag, Opened(session, uri!!)))
            opened = null
        } else {
            events.send(Tagged(tag, Event.AttemptFailed(outcome!!)))
        }
    } finally {
        opened?.abort()
    }
}

/** The connection info provider (or the info it gave) failed: [cause] says how. */
private class ConnectionInfoException(cause: Throwable) : Exception(cause)

/**
 * Runs [prepare], telling its own failures from the attempt's: a cancellation while this coroutine is still active
 * came from inside the provider (its own timeout, say) and is its failure, not the connect timeout.
 */
private suspend fun connectionInfo(prepare: suspend () -> OpenRequest): OpenRequest = try {
    prepare()
} catch (e: CancellationException) {
    currentCoroutineContext().ensureActive()
    throw ConnectionInfoException(e)
} catch (e: Exception) {
    throw ConnectionInfoException(e)
}
