package dev.parley.internal

import dev.parley.DisconnectReason
import dev.parley.Frame
import dev.parley.internal.transport.Opcode
import dev.parley.internal.transport.TransportSession
import dev.parley.internal.transport.WireFrame
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.channels.ReceiveChannel
import kotlinx.coroutines.launch
import kotlinx.coroutines.selects.select
import org.slf4j.Logger

/**
 * A frame on its way out. [written] is completed by whoever settles it: the writer once the frame is flushed, or
 * whoever fails it. `null` for frames nobody waits on (pongs, close frames, handler pushes).
 */
internal class Outbound(
    val frame: WireFrame,
    val written: CompletableDeferred<Unit>?,
    /** True for [dev.parley.ParleyClient.trySend]: nobody awaits it, so a failure is logged as well. */
    val detached: Boolean = false,
) {
    fun fail(cause: Throwable, log: Logger) {
        val w = written ?: return
        if (w.completeExceptionally(cause) && detached) log.warn("frame not sent ({}): {}", frame, cause.message)
    }
}

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
 * a batch of whatever is ready, flushes once, then completes the batch. After writing a close frame it takes no more
 * user frames. A failed write fails the batch and is reported through [onFailure] with the real cause.
 */
internal class FrameWriter(
    private val session: TransportSession,
    private val control: ReceiveChannel<Outbound>,
    private val userFrames: ReceiveChannel<Outbound>,
    private val log: Logger,
    private val onFailure: suspend (Throwable) -> Unit,
) {
    private val userGate = CompletableDeferred<Unit>()

    /** Completed once our close frame has been flushed. */
    val closeWritten: CompletableDeferred<Unit> = CompletableDeferred()
    private val batch = ArrayList<Outbound>(MAX_BATCH)

    /** The batch being written, published for [failInFlight]; empty between batches. */
    @Volatile
    private var inFlight: List<Outbound> = emptyList()

    /**
     * Fails the frames being written with [cause], from the loop, when the connection is going down for a known reason:
     * the writer itself may be stuck on a dead socket and would only learn of it by being cancelled. A frame that the
     * writer completes first keeps its success.
     */
    fun failInFlight(cause: Throwable) {
        inFlight.forEach { it.fail(cause, log) }
    }

    fun openForUserFrames() {
        userGate.complete(Unit)
    }

    fun start(scope: CoroutineScope): Job = scope.launch { run() }

    private suspend fun run() {
        try {
            while (true) {
                batch += next()
                while (batch.size < MAX_BATCH && !closeSent()) {
                    batch += control.tryReceive().getOrNull() ?: userFramesReady()?.tryReceive()?.getOrNull() ?: break
                }
                inFlight = batch.toList()
                for (out in batch) session.write(out.frame)
                session.flush()
                for (out in batch) {
                    out.written?.complete(Unit)
                    if (out.frame.opcode == Opcode.CLOSE) closeWritten.complete(Unit)
                }
                batch.clear()
                inFlight = emptyList()
            }
        } catch (e: CancellationException) {
            val cause = dev.parley.ConnectionClosedException(null, e)
            batch.forEach { it.fail(cause, log) }
            throw e
        } catch (e: Throwable) {
            val cause = dev.parley.ConnectionClosedException(DisconnectReason.TransportFailed(e), e)
            batch.forEach { it.fail(cause, log) }
            closeWritten.completeExceptionally(e)
            onFailure(e)
        }
    }

    private fun closeSent(): Boolean = closeWritten.isCompleted || batch.any { it.frame.opcode == Opcode.CLOSE }

    private fun userFramesReady(): ReceiveChannel<Outbound>? = userFrames.takeIf {
        userGate.isCompleted && !closeSent()
    }

    private suspend fun next(): Outbound {
        if (userFramesReady() == null) {
            return select {
                control.onReceive { it }
                // Wake up when the gate opens so user frames start flowing without a control frame to carry them.
                if (!userGate.isCompleted) userGate.onAwait { next() }
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
