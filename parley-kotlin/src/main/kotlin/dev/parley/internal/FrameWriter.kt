package dev.parley.internal

import dev.parley.ConnectionClosedException
import dev.parley.DisconnectReason
import dev.parley.Frame
import dev.parley.transport.Opcode
import dev.parley.transport.TransportSession
import dev.parley.transport.WireFrame
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.channels.ReceiveChannel
import kotlinx.coroutines.launch
import kotlinx.coroutines.selects.select
import java.util.concurrent.atomic.AtomicBoolean

/**
 * A frame on its way out. [written] is completed by whoever settles it first: the writer once the frame is flushed, or
 * whoever fails it. `null` for frames nobody waits on (pongs, close frames, handler pushes). User frames carry the
 * [book] that counts them in the queue depth and reports the failures of [detached] ones (from trySend).
 */
internal class Outbound(
    val frame: WireFrame,
    val written: CompletableDeferred<Unit>?,
    private val book: SendBook? = null,
    private val detached: Boolean = false,
) {
    /** Set by the first settlement; the book is updated before the sender resumes, so it never sees a stale depth. */
    private val settled = AtomicBoolean()

    fun succeed() {
        if (!settle()) return
        written?.complete(Unit)
    }

    fun fail(cause: Throwable) {
        if (!settle()) return
        written?.completeExceptionally(cause)
        if (detached) book?.dropped(frame, cause)
    }

    /** Settles a frame that never made it into the queue; its sender is told directly, so nothing is reported. */
    fun withdraw(cause: Throwable) {
        if (!settle()) return
        written?.completeExceptionally(cause)
    }

    private fun settle(): Boolean {
        if (written == null || !settled.compareAndSet(false, true)) return false
        book?.settled()
        return true
    }
}

/**
 * The failure of a frame cut off by the end of a connection: [reason], with its I/O cause, else [fallback].
 * [inFlight]: the frame was already being written, so it may have reached the peer.
 */
internal fun closedBy(
    reason: DisconnectReason?,
    fallback: Throwable? = null,
    inFlight: Boolean = false,
): ConnectionClosedException =
    ConnectionClosedException(reason, (reason as? DisconnectReason.TransportFailed)?.cause ?: fallback, inFlight)

internal fun Frame.toWire(): WireFrame = when (this) {
    is Frame.Text -> WireFrame(Opcode.TEXT, text.toByteArray(Charsets.UTF_8))
    is Frame.Binary -> WireFrame(Opcode.BINARY, bytes)
    is Frame.Ping -> WireFrame(Opcode.PING, payload)
    is Frame.Pong -> WireFrame(Opcode.PONG, payload)
}

/**
 * Writes one session's outbound frames on its own coroutine, so the connection's loop never blocks on a slow socket
 * while the peer waits for us to read (that would deadlock both ends).
 *
 * It takes [control] frames (pongs, pushes, close) before user frames, and takes user frames from [userFrames] only
 * once [openForUserFrames] is called: after onConnect, so its pushes precede frames queued while connecting. It writes
 * a batch of whatever is ready, flushes once, then completes the batch. Nothing follows a close frame (RFC 6455
 * §5.5.1): once one is written, every later frame fails with ConnectionClosedException. A failed write fails the
 * batch and is reported through [onFailure] with the real cause.
 */
internal class FrameWriter(
    private val session: TransportSession,
    private val control: ReceiveChannel<Outbound>,
    private val userFrames: ReceiveChannel<Outbound>,
    private val telemetry: Telemetry,
    private val tap: SessionTap?,
    private val onFailure: suspend (Throwable) -> Unit,
) {
    private val userGate = CompletableDeferred<Unit>()

    /** Completed once our close frame has been flushed. */
    val closeWritten: CompletableDeferred<Unit> = CompletableDeferred()
    private val batch = ArrayList<Outbound>(MAX_BATCH)

    /** A close frame has been taken into a batch: nothing may follow it. */
    private var closeTaken = false

    /**
     * Why the connection is going down, set by the loop before it releases the session, so that frames caught
     * mid-write when the writer is cancelled fail with the real reason rather than a bare cancellation.
     */
    @Volatile
    var endReason: DisconnectReason? = null

    /**
     * Set once the batch being written has been flushed to the socket, until its frames are settled: those frames
     * were written, even if the writer has not yet said so.
     */
    @Volatile
    private var batchFlushed = false

    /**
     * Fails the frames of the batch being written now; should the write still succeed, that changes nothing. A batch
     * already flushed succeeds instead: the peer may have answered it already, which is what made the loop stop.
     */
    fun failInFlight(cause: Throwable) {
        if (batchFlushed) batch.forEach { it.succeed() } else batch.forEach { it.fail(cause) }
    }

    fun openForUserFrames() {
        userGate.complete(Unit)
    }

    fun start(scope: CoroutineScope): Job = scope.launch { run(this) }

    private suspend fun run(scope: CoroutineScope) {
        try {
            while (true) {
                take(next())
                while (batch.size < MAX_BATCH && !closeTaken) {
                    take(control.tryReceive().getOrNull() ?: userFramesReady()?.tryReceive()?.getOrNull() ?: break)
                }
                for (out in batch) {
                    session.write(out.frame)
                    // Counted when handed over: a session released mid-flush (after the peer answered our close)
                    // must not lose frames that did go out.
                    telemetry.sent(out.frame.payload.size)
                    tap?.outbound(out.frame)
                }
                session.flush()
                batchFlushed = true
                for (out in batch) out.succeed()
                batch.clear()
                batchFlushed = false
                if (closeTaken) {
                    closeWritten.complete(Unit)
                    // Only this session's own control queue: user frames are the loop's to fail from here on, and a
                    // released session lingering for its close must never take the frames of the next connection.
                    refuse(closedBy(endReason), userFramesToo = false)
                    return
                }
            }
        } catch (e: CancellationException) {
            val cause = closedBy(endReason, fallback = e, inFlight = true)
            batch.forEach { it.fail(cause) }
            throw e
        } catch (e: Throwable) {
            val cause = closedBy(transportFailure(e), fallback = e, inFlight = true)
            batch.forEach { it.fail(cause) }
            closeWritten.completeExceptionally(e)
            // Nothing will be written any more, but the loop may be busy in a handler (even one waiting to push):
            // answer what is queued, and what comes, until the session is released, so nobody waits on a dead writer.
            scope.launch { refuse(closedBy(transportFailure(e), fallback = e), userFramesToo = true) }
            onFailure(e)
        }
    }

    /** Fails what comes in the control queue (and, while this session is still current, in [userFrames]). */
    private suspend fun refuse(cause: Throwable, userFramesToo: Boolean) {
        while (true) {
            val out =
                select<Outbound?> {
                    control.onReceiveCatching { it.getOrNull() }
                    if (userFramesToo) userFrames.onReceiveCatching { it.getOrNull() }
                } ?: return
            out.fail(cause)
        }
    }

    private fun take(out: Outbound) {
        batch += out
        if (out.frame.opcode == Opcode.CLOSE) closeTaken = true
    }

    private fun userFramesReady(): ReceiveChannel<Outbound>? = userFrames.takeIf {
        userGate.isCompleted && !closeTaken
    }

    private suspend fun next(): Outbound {
        if (userFramesReady() == null) {
            return select {
                control.onReceive { it }
                // Wake up when the gate opens so user frames start flowing without a control frame to carry them.
                // Registered even if the gate opened since the check above (it then fires at once): testing
                // isCompleted here again would lose that wake-up and strand queued frames until some control frame.
                if (!closeTaken) userGate.onAwait { next() }
            }
        }
        return select {
            control.onReceive { it }
            userFrames.onReceive { it }
        }
    }

    private companion object {
        /** Frames written before one flush: enough to amortise the flush, small enough to complete senders promptly. */
        const val MAX_BATCH = 64
    }
}
