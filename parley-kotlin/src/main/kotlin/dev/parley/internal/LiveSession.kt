package dev.parley.internal

import dev.parley.CloseCodes
import dev.parley.DisconnectReason
import dev.parley.ParleyOptions
import dev.parley.internal.transport.NonBlockingSession
import dev.parley.internal.transport.WriteTimeoutException
import dev.parley.transport.Opcode
import dev.parley.transport.TransportProtocolException
import dev.parley.transport.TransportSession
import dev.parley.transport.WireFrame
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.ReceiveChannel
import kotlinx.coroutines.channels.SendChannel
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import kotlinx.coroutines.withTimeoutOrNull
import java.io.EOFException
import kotlin.coroutines.CoroutineContext
import kotlin.coroutines.EmptyCoroutineContext
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds

/** The heartbeat's timer fired; the loop asks the session's [Heartbeat] what to do. */
internal object HeartbeatDue : LoopInput

/**
 * One open connection and its helpers: the reader, the writer, the heartbeat timer. Created by the loop when an
 * upgrade succeeds and released by it; every helper tags what it reports with [tag], so reports from a released
 * session are recognised as stale and dropped.
 *
 * Its job is deliberately not a child of the loop: a released session may outlive the step (or the client) that let
 * it go by up to [CLOSE_FLUSH_GRACE], so that a close frame already queued can leave without anyone waiting for it.
 * The loop aborts the session it still holds when it ends, so nothing outlives that bound.
 */
internal class LiveSession(
    val transport: TransportSession,
    private val tag: Long,
    loopContext: CoroutineContext,
    userFrames: ReceiveChannel<Outbound>,
    private val options: ParleyOptions,
    private val telemetry: Telemetry,
    private val events: SendChannel<Tagged>,
    private val budget: InboundBudget,
    private val log: ClientLog,
    clock: Clock,
    private val tap: SessionTap? = null,
) {
    private val job = Job()

    // Without the loop's marker: the reader and writer never call the client's API, and the marker's thread-local
    // bookkeeping on every resumption would tax the per-frame path for nothing.
    private val scope = CoroutineScope(loopContext.minusKey(Job).minusKey(LoopMarker) + job)

    /**
     * Where the reader runs. On Parley's own transport, unconfined: it goes on in the selector thread that saw data
     * arrive, decodes there and hands the message to the loop, saving one thread hand-off per message. Its reads are
     * non-blocking and it calls no user code, so the selector thread is never held for long. Measured (one round of
     * the callback benchmarks each, BENCHMARKS.md): RTT p50 45.6 → 39.2 µs with the reader unconfined; making the writer
     * unconfined too (it would then write in the thread that queued the frame) cut 64 B throughput from 504k to 124k
     * messages/s, so the writer keeps the loop's dispatcher. Other transports (Ktor's session) keep it for both.
     */
    private val readerContext: CoroutineContext =
        if (transport is NonBlockingSession) Dispatchers.Unconfined else EmptyCoroutineContext

    /** Pongs, pushes, pings and close frames: written ahead of user frames. */
    private val control = Channel<Outbound>(options.sendQueueCapacity)
    val writer =
        FrameWriter(transport, control, userFrames, telemetry, tap) { cause ->
            // A write fails with a broken pipe or a reset when the peer has closed the connection, often right after
            // sending a close frame that says why (a server refusing a frame too big for it closes with 1009 as soon
            // as it reads the header, while the rest is still being written). That frame is already in our socket
            // and is the better reason, so the reader gets a moment to read it before the write's failure counts;
            // the first report wins, the loop drops the other.
            if (cause !is WriteTimeoutException) withTimeoutOrNull(WRITE_FAILURE_GRACE) { reader?.join() }
            events.send(Tagged(tag, Event.TransportLost(transportFailure(cause))))
        }
    val heartbeat: Heartbeat? = options.heartbeat?.let { Heartbeat(it, telemetry, clock) }
    private var heartbeatTimer: Job? = null

    /** Cancelled first on release, so nothing more is read or reported while the writer finishes. */
    private var reader: Job? = null

    fun start() {
        Liveness.sessions.incrementAndGet()
        writer.start(scope)
        reader = scope.launch(readerContext) { readFrames() }
        heartbeat?.let { scheduleHeartbeat(it.start()) }
    }

    /** Where a send() made inside onConnect goes (see [ClientShared.onConnectControl]). */
    val controlQueue: SendChannel<Outbound> get() = control

    /** Queues a control frame without waiting; `false` if the control queue is full or closed. */
    fun offerControl(frame: WireFrame): Boolean = control.trySend(Outbound(frame, null)).isSuccess

    /**
     * Queues a handler's push, waiting for room in the control queue. The writer drains it on its own coroutine, and
     * a dead writer refuses what comes (FrameWriter), so the wait ends; a push after our close frame is refused.
     */
    suspend fun push(frame: WireFrame) {
        control.send(Outbound(frame, null))
    }

    fun scheduleHeartbeat(after: Duration) {
        heartbeatTimer?.cancel()
        heartbeatTimer =
            scope.launch {
                delay(after)
                events.send(Tagged(tag, HeartbeatDue))
            }
    }

    /**
     * Lets go of the connection without making the loop wait. When a close frame was queued in the same step
     * ([closeQueued]) the writer gets up to [CLOSE_FLUSH_GRACE] to flush it, then it lingers briefly so it can leave
     * the machine; when the link is presumed dead ([abort]) the socket is dropped at once.
     */
    fun release(closeQueued: Boolean, abort: Boolean) {
        letGo()
        reader?.cancel()
        heartbeatTimer?.cancel()
        if (abort || !closeQueued) {
            // Lingering costs nothing, and also covers a close frame the transport sent on its own.
            if (abort) transport.abort() else transport.release(CLOSE_LINGER)
            job.cancel()
            control.close()
            return
        }
        scope.launch {
            val flushed = withTimeoutOrNull(CLOSE_FLUSH_GRACE) { writer.closeWritten.join() } != null
            if (flushed && !writer.closeWritten.isCancelled) transport.release(CLOSE_LINGER) else transport.abort()
            job.cancel()
            control.close()
        }
    }

    /** Counted as let go at the first release or abort; what follows is bounded by [CLOSE_FLUSH_GRACE]. */
    private val released = java.util.concurrent.atomic.AtomicBoolean()

    private fun letGo() {
        if (released.compareAndSet(false, true)) Liveness.sessions.decrementAndGet()
    }

    /** Drops everything at once; for a client that is stopping. */
    fun abort() {
        letGo()
        transport.abort()
        job.cancel()
        control.close()
    }

    /** Reassembles and validates frames, then hands them to the loop one at a time. */
    private suspend fun readFrames() {
        val assembler = MessageAssembler(options.maxFrameSize)
        val end: Event =
            try {
                while (true) {
                    val frame = transport.receive() ?: break
                    telemetry.received(frame.payload.size)
                    if (log.isTraceEnabled) log.trace("received {}", frame)
                    val inbound = assembler.accept(frame) ?: continue
                    tap?.inbound(inbound)
                    // Stamped on receipt: a round trip must not include the time the pong waits behind the handler.
                    val receivedAt = telemetry.lastInboundNanos
                    val charge = inbound.charge()
                    // Wait here, not in the loop, while received messages hold the whole budget: TCP then pushes back.
                    budget.acquire(charge)
                    try {
                        events.send(Tagged(tag, InboundEvent(inbound, receivedAt, charge)))
                    } catch (e: CancellationException) {
                        budget.release(charge)
                        throw e
                    }
                    if (inbound is Inbound.Close || inbound is Inbound.Violation) return
                }
                Event.TransportLost(
                    DisconnectReason.TransportFailed(
                        EOFException("the peer closed the connection without a close frame"),
                    ),
                )
            } catch (e: CancellationException) {
                throw e
            } catch (e: TransportProtocolException) {
                val reason =
                    if (e.closeCode == CloseCodes.MESSAGE_TOO_BIG) {
                        DisconnectReason.MessageTooBig(options.maxFrameSize)
                    } else {
                        DisconnectReason.ProtocolViolation(e.closeCode, e.message ?: "protocol violation")
                    }
                log.warn("closing with {}: {}", e.closeCode, reason)
                // A transport that already sent its close frame must not be made to send a second one.
                if (e.closeSent) Event.TransportLost(reason) else Event.Violated(reason, e.closeCode)
            } catch (e: Throwable) {
                Event.TransportLost(transportFailure(e))
            }
        events.send(Tagged(tag, end))
    }

    private companion object {
        /** How long a queued close frame may take to be flushed before the socket is given up as stuck. */
        val CLOSE_FLUSH_GRACE = 1000.milliseconds

        /** How long a flushed close frame is given to leave the machine before its socket is closed. */
        val CLOSE_LINGER = 100.milliseconds

        /** How long the reader may take, after a write failed, to report what the peer sent before it closed. */
        val WRITE_FAILURE_GRACE = 200.milliseconds
    }
}

/** What a failed read or write means: a write that made no progress in time has its own reason. */
internal fun transportFailure(cause: Throwable): DisconnectReason = when (cause) {
    is WriteTimeoutException -> DisconnectReason.WriteTimedOut(cause.timeout)
    else -> DisconnectReason.TransportFailed(cause)
}

/** The close frame's payload: the code in network order, then the reason; empty for 1005 ("no status"). */
internal fun closeFrame(code: Int, reason: String): WireFrame {
    if (code == CloseCodes.NO_STATUS) return WireFrame(Opcode.CLOSE, ByteArray(0))
    val text = reason.toByteArray(Charsets.UTF_8)
    val payload =
        ByteArray(2 + text.size).also {
            it[0] = (code shr 8).toByte()
            it[1] = code.toByte()
            text.copyInto(it, 2)
        }
    return WireFrame(Opcode.CLOSE, payload)
}

/** What a received message holds of the [InboundBudget]; the end of the connection (close, violation) holds nothing. */
private fun Inbound.charge(): Long = when (this) {
    is Inbound.Message -> InboundBudget.charge(frame)
    is Inbound.Ping -> InboundBudget.charge(payload.size)
    is Inbound.Pong -> InboundBudget.charge(payload.size)
    is Inbound.Close, is Inbound.Violation -> 0
}
