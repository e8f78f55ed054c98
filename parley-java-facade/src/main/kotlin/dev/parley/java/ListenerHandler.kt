package dev.parley.java

import dev.parley.ClientStoppedException
import dev.parley.CloseCodes
import dev.parley.ConnectionState
import dev.parley.DisconnectDecision
import dev.parley.DisconnectReason
import dev.parley.Frame
import dev.parley.HandlerAction
import dev.parley.InitResult
import dev.parley.ParleyClient
import dev.parley.ParleyHandler
import dev.parley.SendQueueFullException
import dev.parley.SendResult
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import kotlinx.coroutines.sync.Semaphore
import org.slf4j.Logger
import java.nio.ByteBuffer
import java.util.concurrent.atomic.AtomicInteger
import kotlin.time.Duration.Companion.milliseconds

/**
 * The core handler behind a [ParleyListener]. Every listener callback runs on the client's [SerialExecutor], so
 * callbacks never overlap and run in the order the core called the handler.
 *
 * - `onConnect` and `onDisconnect` wait for their callback: onConnect's replies become the core's action (so they
 *   precede frames queued while connecting), onDisconnect's answer is the reconnect decision.
 * - The per-message callbacks (`onText`, `onBinary`, `onPing`, `onPong`, `onInfo`) are pipelined: the core hands the
 *   callback over and reads on without waiting, unless [maxPending] callbacks are already handed over and unfinished;
 *   then it suspends (no thread blocked) until one finishes, so a slow listener stops the client reading.
 * - What a pipelined callback replies is carried out when it returns, through the client's public API: frames with
 *   `trySend`; disconnect, stop and failures with private markers given to `ParleyClient.tell` and answered by
 *   [onInfo] on the connection loop, so they keep the core's exact semantics (StopReason.ByHandler,
 *   DisconnectReason.ByHandler, StopReason.HandlerFailed with the listener's own exception).
 *
 * [scope] runs replies that wait for room in a full send queue and marker deliveries that wait for room in a full
 * mailbox; cancelling it (when the user stops the client) releases whatever they hold.
 */
internal class ListenerHandler(
    private val listener: ParleyListener,
    private val callbacks: SerialExecutor,
    private val maxPending: Int,
    private val scope: CoroutineScope,
    /** Whether a full send queue makes senders wait ([dev.parley.SendOverflow.SUSPEND]) rather than fail. */
    private val waitWhenFull: Boolean,
    private val log: Logger,
) : ParleyHandler<Unit> {
    private val attached = CompletableDeferred<Unit>()

    /** The client this handler serves; set by [attach] before [init] lets the loop go on, so always set when used. */
    @Volatile
    private lateinit var client: ParleyClient

    /** Handed-over per-message callbacks not yet finished (a finished one whose replies still wait keeps its permit). */
    private val window = Semaphore(maxPending)
    private val pending = AtomicInteger()

    /** The most callbacks ever pending at once; written by the loop only. */
    @Volatile
    var highWater: Int = 0
        private set

    /** Pending per-message callbacks: handed to the executor and not finished, replies included. */
    val pendingCallbacks: Int get() = pending.get()

    /**
     * Bumped by the loop when a connection opens and when one (or an attempt) ends. A pipelined callback remembers the
     * value it was handed over with, so its replies are dropped rather than sent on a later connection.
     */
    @Volatile
    private var connection = 0L

    /** The connection a pipelined callback asked to close: later callbacks for its frames are skipped. */
    @Volatile
    private var closing = -1L

    /** The first exception a pipelined callback threw; the client stops with it. */
    @Volatile
    private var failure: Throwable? = null

    /** A callback asked to stop, or the user stopped the client: queued per-message callbacks are skipped. */
    @Volatile
    private var stopping = false

    /** The last job sending replies that waited for room; later replies go behind it. Touched by callbacks only. */
    private var replyTail: Job? = null

    private val ok = HandlerAction.Ok(Unit)

    /** Gives the handler its client; the loop waits in [init] until then. */
    fun attach(client: ParleyClient) {
        this.client = client
        attached.complete(Unit)
    }

    /** The user stopped the client: skip per-message callbacks not started yet. */
    fun skipQueued() {
        stopping = true
    }

    override suspend fun init(initial: Unit): InitResult<Unit> {
        attached.await()
        return InitResult.Init(initial)
    }

    override suspend fun onConnect(state: Unit): HandlerAction<Unit> {
        connection++
        val reply = CollectingReply()
        try {
            callbacks.run {
                failure?.let { throw it }
                listener.onConnect(reply)
            }
        } finally {
            reply.valid = false
        }
        return reply.action()
    }

    override suspend fun onFrame(frame: Frame, state: Unit): HandlerAction<Unit> = pipelined(fromPeer = true) { reply ->
        when (frame) {
            is Frame.Text -> listener.onText(reply, frame.text)
            is Frame.Binary -> listener.onBinary(reply, ByteBuffer.wrap(frame.bytes).asReadOnlyBuffer())
            is Frame.Pong -> listener.onPong(reply, ByteBuffer.wrap(frame.payload).asReadOnlyBuffer())
            is Frame.Ping -> listener.onPing(reply, ByteBuffer.wrap(frame.payload).asReadOnlyBuffer())
        }
    }

    override suspend fun onPing(payload: ByteArray, state: Unit): HandlerAction<Unit> =
        pipelined(fromPeer = true) { listener.onPing(it, ByteBuffer.wrap(payload).asReadOnlyBuffer()) }

    override suspend fun onInfo(message: Any, state: Unit): HandlerAction<Unit> = when (message) {
        // Thrown here, on the loop, so the core stops with StopReason.HandlerFailed carrying this very instance.
        is ListenerFailed -> throw message.cause

        is StopAsked -> HandlerAction.Stop(message.reason, Unit)

        is DisconnectAsked ->
            if (message.connection == connection) {
                HandlerAction.Disconnect(message.reason, Unit, message.code)
            } else {
                log.debug("reply.disconnect ignored: the connection it answered has already ended")
                ok
            }

        else -> pipelined(fromPeer = false) { listener.onInfo(it, message) }
    }

    override suspend fun onDisconnect(reason: DisconnectReason, state: Unit): DisconnectDecision<Unit> {
        connection++
        val decision =
            callbacks.run {
                failure?.let { throw it }
                listener.onDisconnect(reason.toJava())
            }
        return when (decision ?: ReconnectDecision.DEFAULT) {
            ReconnectDecision.DEFAULT -> DisconnectDecision.Default(Unit)
            ReconnectDecision.RECONNECT -> DisconnectDecision.Reconnect(Unit)
            ReconnectDecision.STAY_DISCONNECTED -> DisconnectDecision.StayDisconnected(Unit)
        }
    }

    /**
     * Hands [callback] to the executor and returns at once, unless the window is full: then waits for room first.
     * [fromPeer]: the callback is for a frame the peer sent (not for a told message), so it is skipped once its
     * connection is closing, as the core ignores frames while closing.
     */
    private suspend fun pipelined(fromPeer: Boolean, callback: (Reply) -> Unit): HandlerAction<Unit> {
        // A failure whose marker could not be told yet still stops the client at its next callback.
        failure?.let { throw it }
        window.acquire()
        val now = pending.incrementAndGet()
        if (now > highWater) highWater = now
        val handedOver = connection
        callbacks.execute { runPipelined(handedOver, fromPeer, callback) }
        return ok
    }

    /** On the callback executor: runs the callback, then carries out its replies; frees its place in the window. */
    private fun runPipelined(handedOver: Long, fromPeer: Boolean, callback: (Reply) -> Unit) {
        var sending: Job? = null
        try {
            if (failure != null || stopping || (fromPeer && handedOver == closing)) return
            val reply = CollectingReply()
            try {
                callback(reply)
            } finally {
                reply.valid = false
            }
            sending = carryOut(reply, handedOver)
        } catch (e: Throwable) {
            listenerFailed(e)
        } finally {
            if (sending == null) finished() else sending.invokeOnCompletion { finished() }
        }
    }

    private fun finished() {
        pending.decrementAndGet()
        window.release()
    }

    private fun listenerFailed(e: Throwable) {
        if (failure != null) return
        failure = e
        deliver(ListenerFailed(e))
    }

    /** Carries out a pipelined callback's replies; returns the job still sending some, if any. */
    private fun carryOut(reply: CollectingReply, handedOver: Long): Job? {
        when (val ending = reply.ending) {
            is Ending.Stop -> {
                stopping = true
                deliver(StopAsked(ending.reason))
                return null
            }

            is Ending.Disconnect -> {
                closing = handedOver
                deliver(DisconnectAsked(ending.code, ending.reason, handedOver))
                return null
            }

            null -> Unit
        }
        val frames = reply.frames
        if (frames.isEmpty()) return null
        // Replies of an earlier callback still wait for room: these go behind them, in order.
        replyTail?.takeUnless { it.isCompleted }?.let { return sendLater(frames.toList(), handedOver, it) }
        val waiting = frames.indices.firstOrNull { !offer(frames[it], handedOver) } ?: return null
        return sendLater(frames.subList(waiting, frames.size).toList(), handedOver, null)
    }

    /**
     * Queues [frame] without waiting. `true` if it is settled: queued (a later failure to write it is logged and
     * reported as a FrameDropped event by the core), or dropped with a log line; `false` if the queue is full and
     * senders wait for room.
     */
    private fun offer(frame: Frame, handedOver: Long): Boolean {
        if (handedOver != connection) {
            log.warn("reply {} not sent: the connection it answered has ended", frame)
            return true
        }
        when (val result = client.trySend(frame)) {
            is SendResult.Enqueued -> return true

            is SendResult.Rejected -> {
                val cause = result.cause
                if (cause is SendQueueFullException && waitWhenFull) return false
                if (cause is ClientStoppedException) {
                    log.debug("reply {} not sent: {}", frame, cause.message)
                } else {
                    log.warn("reply {} not sent: {}", frame, cause.message)
                }
                return true
            }
        }
    }

    /** Sends [frames] in order on [scope], after [previous], waiting for room where the queue is full. */
    private fun sendLater(frames: List<Frame>, handedOver: Long, previous: Job?): Job = scope
        .launch {
            previous?.join()
            for ((i, frame) in frames.withIndex()) {
                if (offer(frame, handedOver)) continue
                try {
                    client.send(frame) // waits for room (and for the write; the queue has drained by then)
                } catch (e: CancellationException) {
                    throw e
                } catch (e: Throwable) {
                    // The connection is going or gone: the rest must not be sent on a later one.
                    log.warn("reply {} and {} after it not sent: {}", frame, frames.size - i - 1, e.message)
                    return@launch
                }
            }
        }.also { replyTail = it }

    /** Tells [marker] to the loop; if the mailbox is full, retries on [scope] until it fits or the client stops. */
    private fun deliver(marker: Any) {
        if (client.tell(marker)) return
        scope.launch {
            // There is no suspending tell, and a full mailbox means the loop has work queued: retry gently.
            while (!client.tell(marker)) {
                if (client.state.value is ConnectionState.Stopped) return@launch
                delay(MAILBOX_RETRY)
            }
        }
    }

    private companion object {
        val MAILBOX_RETRY = 5.milliseconds
    }
}

/** Told to the loop when a pipelined callback threw; [ListenerHandler.onInfo] rethrows [cause] there. */
private class ListenerFailed(
    val cause: Throwable,
)

/** Told to the loop when a pipelined callback called [Reply.stop]. */
private class StopAsked(
    val reason: Any?,
)

/** Told to the loop when a pipelined callback called [Reply.disconnect] while [connection] was current. */
private class DisconnectAsked(
    val code: Int,
    val reason: Any?,
    val connection: Long,
)

/** How a callback asked to end: close the connection, or stop the client. */
private sealed class Ending {
    class Disconnect(
        val code: Int,
        val reason: Any?,
    ) : Ending()

    class Stop(
        val reason: Any?,
    ) : Ending()
}

/** Collects what a callback asked for, to be carried out when it returns. */
private class CollectingReply : Reply {
    @Volatile
    var valid = true
    val frames = ArrayList<Frame>(2)
    var ending: Ending? = null
        private set

    override fun sendText(text: String): Reply = push(Frame.Text(text))

    override fun sendBinary(data: ByteArray): Reply = push(Frame.Binary(data))

    override fun sendBinary(data: ByteBuffer): Reply = push(Frame.Binary(data.copyRemaining()))

    override fun sendPing(payload: ByteArray): Reply = push(Frame.Ping(payload))

    override fun disconnect(code: Int, reason: Any?) {
        checkValid()
        require(CloseCodes.isSendable(code)) { "close code $code may not be sent in a close frame" }
        ending = Ending.Disconnect(code, reason)
    }

    override fun stop(reason: Any?) {
        checkValid()
        ending = Ending.Stop(reason)
    }

    /** The core action for a callback the core waits for (onConnect). */
    fun action(): HandlerAction<Unit> = when (val e = ending) {
        is Ending.Disconnect -> HandlerAction.Disconnect(e.reason, Unit, e.code)
        is Ending.Stop -> HandlerAction.Stop(e.reason, Unit)
        null -> if (frames.isEmpty()) HandlerAction.Ok(Unit) else HandlerAction.Push(frames.toList(), Unit)
    }

    private fun push(frame: Frame): Reply {
        checkValid()
        frames += frame
        return this
    }

    private fun checkValid() = check(valid) { "a Reply is only valid during the callback that received it" }
}
