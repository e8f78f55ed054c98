package dev.parley.internal

import dev.parley.ClientStoppedException
import dev.parley.CloseCodes
import dev.parley.ConnectionState
import dev.parley.DisconnectReason
import dev.parley.Frame
import dev.parley.NotConnectedException
import dev.parley.ParleyClient
import dev.parley.ParleyEvent
import dev.parley.ParleyException
import dev.parley.ParleyMetrics
import dev.parley.ParleyOptions
import dev.parley.SendOverflow
import dev.parley.SendQueueFullException
import dev.parley.SendResult
import dev.parley.StopReason
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.Job
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.ClosedSendChannelException
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asSharedFlow
import kotlinx.coroutines.flow.asStateFlow
import org.slf4j.Logger

/** A request from a caller to the connection loop. */
internal sealed class Command {
    class Connect(
        val reply: CompletableDeferred<Unit>,
    ) : Command()

    class Disconnect(
        val close: PendingClose,
        val reply: CompletableDeferred<Unit>,
    ) : Command()

    object Stop : Command()

    class Info(
        val message: Any,
    ) : Command()
}

/**
 * What callers (any thread) and the connection loop (one coroutine) share: bounded channels into the loop, the
 * published state, and the telemetry. Only the loop writes [state], [stopReason] and [lastReason].
 */
internal class ClientShared(
    val options: ParleyOptions,
    val telemetry: Telemetry,
    val log: Logger,
) {
    /** Starts as Connecting: a client connects as soon as it starts, so frames sent right away are queued. */
    val state = MutableStateFlow<ConnectionState>(ConnectionState.Connecting(0))

    @Volatile
    var stopReason: StopReason? = null

    @Volatile
    var lastReason: DisconnectReason? = null

    /** Reconnect attempts in a row since the last stable connection, as the loop counts them. */
    @Volatile
    var reconnectAttempts: Int = 0

    /**
     * User frames, bounded. A frame is "undelivered" when the client stops with it still queued, or when the writer
     * that had just taken it is cancelled because its connection ended: it fails with whichever happened.
     */
    val sendQueue = Channel<Outbound>(options.sendQueueCapacity) { it.fail(undelivered()) }

    private fun undelivered(): ParleyException = stopReason?.let { ClientStoppedException(it) }
        ?: closedBy(lastReason)

    /** Commands and tell() messages from callers, bounded like the send queue. */
    val mailbox = Channel<Command>(options.sendQueueCapacity)
}

/** The thread-safe face of a client: it validates, enqueues and waits; the loop does the rest. */
internal class ClientHandle(
    private val shared: ClientShared,
    private val loop: Job,
) : ParleyClient {
    private val options = shared.options
    private val telemetry = shared.telemetry

    override val name: String get() = options.name
    override val state: StateFlow<ConnectionState> = shared.state.asStateFlow()
    override val events: Flow<ParleyEvent> = telemetry.events.asSharedFlow()

    override fun metrics(): ParleyMetrics =
        telemetry.snapshot(shared.state.value, shared.reconnectAttempts, shared.lastReason)

    override suspend fun send(frame: Frame) {
        val out = Outbound(frame.toWire(), CompletableDeferred(), telemetry)
        rejection()?.let { throw it }
        // Counted before it can be taken from the queue; every way out settles it exactly once (see Outbound).
        telemetry.queueDepth.incrementAndGet()
        if (options.sendOverflow == SendOverflow.FAIL) {
            val result = shared.sendQueue.trySend(out)
            val refusal =
                when {
                    result.isClosed -> ClientStoppedException(shared.stopReason)
                    result.isFailure -> SendQueueFullException(options.sendQueueCapacity)
                    else -> null
                }
            refusal?.let {
                out.withdraw(it)
                throw it
            }
        } else {
            try {
                shared.sendQueue.send(out)
            } catch (e: ClosedSendChannelException) {
                ClientStoppedException(shared.stopReason).let {
                    out.withdraw(it)
                    throw it
                }
            } catch (e: CancellationException) {
                // A caller cancelled while waiting for room: the frame never entered the queue.
                out.withdraw(e)
                throw e
            }
        }
        out.written!!.await()
    }

    override fun trySend(frame: Frame): SendResult {
        rejection()?.let { return SendResult.Rejected(it) }
        val out = Outbound(frame.toWire(), CompletableDeferred(), telemetry, detached = true)
        telemetry.queueDepth.incrementAndGet()
        val result = shared.sendQueue.trySend(out)
        if (result.isSuccess) return SendResult.Enqueued(out.written!!)
        val refusal =
            if (result.isClosed) {
                ClientStoppedException(
                    shared.stopReason,
                )
            } else {
                SendQueueFullException(options.sendQueueCapacity)
            }
        out.withdraw(refusal)
        return SendResult.Rejected(refusal)
    }

    private fun rejection(): ParleyException? = when (val s = shared.state.value) {
        is ConnectionState.Disconnected -> NotConnectedException()
        is ConnectionState.Stopped -> ClientStoppedException(s.reason)
        else -> null
    }

    override suspend fun connect() {
        val reply = CompletableDeferred<Unit>()
        try {
            shared.mailbox.send(Command.Connect(reply))
        } catch (e: ClosedSendChannelException) {
            throw ClientStoppedException(shared.stopReason)
        }
        reply.await()
    }

    override suspend fun disconnect(code: Int, reason: String) {
        require(CloseCodes.isSendable(code)) { "close code $code may not be sent in a close frame" }
        require(reason.toByteArray(Charsets.UTF_8).size <= MAX_CLOSE_REASON) {
            "close reason must be at most $MAX_CLOSE_REASON bytes in UTF-8"
        }
        if (shared.state.value is ConnectionState.Stopped) return
        val reply = CompletableDeferred<Unit>()
        try {
            shared.mailbox.send(
                Command.Disconnect(PendingClose(code, reason, byHandler = false, handlerReason = null), reply),
            )
        } catch (e: ClosedSendChannelException) {
            return
        }
        reply.await()
    }

    override suspend fun stop() {
        try {
            shared.mailbox.send(Command.Stop)
        } catch (e: ClosedSendChannelException) {
            // Already stopping or stopped.
        }
        loop.join()
    }

    override fun tell(message: Any): Boolean = shared.mailbox.trySend(Command.Info(message)).isSuccess

    private companion object {
        const val MAX_CLOSE_REASON = 123
    }
}
