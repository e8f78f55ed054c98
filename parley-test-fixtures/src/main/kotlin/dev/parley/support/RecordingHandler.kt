package dev.parley.support

import dev.parley.ConnectionState
import dev.parley.DisconnectDecision
import dev.parley.DisconnectReason
import dev.parley.Frame
import dev.parley.HandlerAction
import dev.parley.InitResult
import dev.parley.Parley
import dev.parley.ParleyClient
import dev.parley.ParleyHandler
import dev.parley.ParleyOptions
import dev.parley.parleyOptions
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.withTimeoutOrNull
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/** What a [RecordingHandler] saw, in order. */
sealed class Seen {
    data class Connected(
        val state: Any?,
    ) : Seen()

    data class Received(
        val frame: Frame,
    ) : Seen()

    data class Pinged(
        val payload: String,
    ) : Seen()

    data class Info(
        val message: Any,
        val state: Any?,
    ) : Seen()

    data class Disconnected(
        val reason: DisconnectReason,
        val state: Any?,
    ) : Seen()
}

/**
 * A handler that records every callback into a channel and answers with the actions its hooks give (by default
 * Ok / Default). Tests read the record with [next] and friends, each wait bounded.
 */
open class RecordingHandler<S>(
    private val onInit: suspend (S) -> InitResult<S> = { InitResult.Init(it) },
    private val onConnected: suspend (S) -> HandlerAction<S> = { HandlerAction.Ok(it) },
    private val onReceived: suspend (Frame, S) -> HandlerAction<S> = { _, s -> HandlerAction.Ok(s) },
    private val onPinged: suspend (ByteArray, S) -> HandlerAction<S> = { _, s -> HandlerAction.Ok(s) },
    private val onInformed: suspend (Any, S) -> HandlerAction<S> = { _, s -> HandlerAction.Ok(s) },
    private val onDisconnected: suspend (DisconnectReason, S) -> DisconnectDecision<S> = { _, s ->
        DisconnectDecision.Default(s)
    },
) : ParleyHandler<S> {
    val seen = Channel<Seen>(Channel.UNLIMITED)

    override suspend fun init(initial: S): InitResult<S> = onInit(initial)

    override suspend fun onConnect(state: S): HandlerAction<S> {
        seen.send(Seen.Connected(state))
        return onConnected(state)
    }

    override suspend fun onFrame(frame: Frame, state: S): HandlerAction<S> {
        seen.send(Seen.Received(frame))
        return onReceived(frame, state)
    }

    override suspend fun onPing(payload: ByteArray, state: S): HandlerAction<S> {
        seen.send(Seen.Pinged(payload.decodeToString()))
        return onPinged(payload, state)
    }

    override suspend fun onInfo(message: Any, state: S): HandlerAction<S> {
        seen.send(Seen.Info(message, state))
        return onInformed(message, state)
    }

    override suspend fun onDisconnect(reason: DisconnectReason, state: S): DisconnectDecision<S> {
        seen.send(Seen.Disconnected(reason, state))
        return onDisconnected(reason, state)
    }

    /** The next callback, whatever it is. */
    suspend fun next(timeout: Duration = 5.seconds): Seen =
        withTimeoutOrNull(timeout) { seen.receive() } ?: error("no handler callback within $timeout")

    /** The next callback, which must be a [T]. */
    suspend inline fun <reified T : Seen> expect(timeout: Duration = 5.seconds): T {
        val event = next(timeout)
        return event as? T ?: error("expected ${T::class.simpleName} but the handler saw $event")
    }

    /** Skips callbacks until one of type [T] arrives. */
    suspend inline fun <reified T : Seen> awaitSeen(timeout: Duration = 5.seconds): T = withTimeoutOrNull(timeout) {
        while (true) {
            val e = seen.receive()
            if (e is T) return@withTimeoutOrNull e
        }
        @Suppress("UNREACHABLE_CODE")
        null
    } ?: error("no ${T::class.simpleName} within $timeout")

    /** Asserts no callback arrives within [window]: a bounded check of absence, not a synchronisation. */
    suspend fun expectQuiet(window: Duration = 300.milliseconds) {
        val e = withTimeoutOrNull(window) { seen.receive() }
        check(e == null) { "expected no handler callback within $window but saw $e" }
    }
}

/** A handler over `Unit` state recording everything with default answers. */
fun recorder(): RecordingHandler<Unit> = RecordingHandler()

/** Waits (bounded) for the client's state to satisfy [predicate]. */
suspend fun ParleyClient.awaitState(
    timeout: Duration = 5.seconds,
    predicate: (ConnectionState) -> Boolean,
): ConnectionState = withTimeout(timeout) { state.first(predicate) }

suspend fun ParleyClient.awaitConnected(timeout: Duration = 5.seconds): ConnectionState.Connected =
    awaitState(timeout) { it is ConnectionState.Connected } as ConnectionState.Connected

suspend fun ParleyClient.awaitStopped(timeout: Duration = 5.seconds): ConnectionState.Stopped =
    awaitState(timeout) { it is ConnectionState.Stopped } as ConnectionState.Stopped

suspend fun ParleyClient.awaitDisconnected(timeout: Duration = 5.seconds): ConnectionState.Disconnected =
    awaitState(timeout) { it is ConnectionState.Disconnected && it.reason != null } as ConnectionState.Disconnected

/**
 * Runs [block] with a client started on [options] (`url` and the rest) and [handler]'s record (by default a handler
 * that answers Ok and Default); the client is stopped afterwards, bounded, whatever [block] did.
 */
suspend fun withRecordedClient(
    options: ParleyOptions.Builder.() -> Unit,
    handler: RecordingHandler<Unit> = recorder(),
    block: suspend (ParleyClient, RecordingHandler<Unit>) -> Unit,
) {
    val client = Parley.start(handler, Unit, parleyOptions(options))
    try {
        block(client, handler)
    } finally {
        withTimeout(10.seconds) { client.stop() }
    }
}
