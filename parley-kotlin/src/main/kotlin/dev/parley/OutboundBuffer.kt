package dev.parley

import dev.parley.internal.ClientHandle
import dev.parley.internal.InboundBudget
import dev.parley.internal.countIf
import dev.parley.internal.offLoopFuture
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Deferred
import kotlinx.coroutines.Job
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import java.util.TreeMap
import java.util.concurrent.CompletableFuture
import java.util.concurrent.atomic.AtomicLong
import java.util.concurrent.atomic.AtomicReference
import kotlin.time.Duration
import kotlin.time.toKotlinDuration

/**
 * Messages that survive reconnects: frames sent through [send] while the client is disconnected or backing off are
 * kept, and written in order once the next connection is up (after the [Subscriptions] restore, when that layer comes
 * first; before anything queued while connecting). Add it to the options with `layer(buffer)`; send through it the
 * frames that should wait for a connection rather than fail, and through the client the rest.
 *
 * Every frame is answered once: written ([send] returns), or dropped with its reason, [OutboundBufferFullException]
 * (by [overflow]), [FrameExpiredException] (its [expireAfter] passed before a connection took it),
 * [ClientStoppedException], or the send's own failure ([SendQueueFullException] from [sendAsync] while connected). A
 * frame the connection dropped while it was still queued (certainly not written) goes back into the buffer in its
 * place; one that was being written when the connection failed may have reached the peer, so it is never sent again:
 * its sender gets the [ConnectionClosedException] with `mayHaveBeenWritten = true`.
 *
 * @property maxFrames the most frames the buffer holds (default 1,000).
 * @property maxBytes the most payload bytes it holds (default 1 MiB).
 * @property expireAfter how long a frame may wait for a connection, from its send, or `null` (the default) for ever.
 * @property overflow which frame goes when the buffer is full.
 */
public class OutboundBuffer(
    public val maxFrames: Int = 1000,
    public val maxBytes: Long = 1L shl 20,
    public val expireAfter: Duration? = null,
    public val overflow: Overflow = Overflow.REJECT_NEWEST,
) : ClientLayer {
    init {
        require(maxFrames > 0) { "maxFrames must be positive but was $maxFrames" }
        require(maxBytes > 0) { "maxBytes must be positive but was $maxBytes" }
        require(expireAfter == null || expireAfter.isPositive()) { "expireAfter must be positive but was $expireAfter" }
    }

    /** Which frame a full buffer gives up. */
    public enum class Overflow {
        /** The new frame is refused: what was sent first stays first (commands, orders). */
        REJECT_NEWEST,

        /** The oldest frames make room for the new one (market data, where the latest matters). */
        DROP_OLDEST,
    }

    private inner class Entry(
        val sequence: Long,
        val frame: Frame,
        val expireAfter: Duration?,
    ) {
        val bytes = InboundBudget.charge(frame)
        val written = CompletableDeferred<Unit>()
        var expiry: Job? = null

        /** Its expiry passed while a connection had it: if it comes back unwritten, it is dropped, not kept. */
        @Volatile
        var overdue = false
    }

    /** Guards [buffered], [bufferedBytes] and [live]. */
    private val lock = Any()

    /** Waiting for a connection, oldest (lowest sequence) first; a frame put back keeps its place. */
    private val buffered = TreeMap<Long, Entry>()
    private var bufferedBytes = 0L
    private var live = false
    private var stopped: StopReason? = null

    private val sequence = AtomicLong()
    private val client = AtomicReference<ClientHandle?>()
    private lateinit var timers: CoroutineScope
    private val delivered = AtomicLong()
    private val droppedOverflow = AtomicLong()
    private val droppedExpired = AtomicLong()

    override fun attach(client: ParleyClient) {
        val handle = client as? ClientHandle ?: error("attach is called by the client itself")
        check(this.client.compareAndSet(null, handle)) {
            "an OutboundBuffer serves one client; this one already has one"
        }
        timers = CoroutineScope(SupervisorJob() + handle.shared.dispatcher)
    }

    /**
     * Sends [frame] now if connected, else keeps it for the next connection; returns once it is written. See
     * [OutboundBuffer] for how else it can end.
     *
     * @param expireAfter how long it may wait for a connection (default [OutboundBuffer.expireAfter]).
     */
    public suspend fun send(frame: Frame, expireAfter: Duration? = this.expireAfter) {
        // If the caller is cancelled while waiting, the frame stays sent or buffered, as one handed to send() does.
        sendAsync(frame, expireAfter).await()
    }

    /** [send] without waiting: the result completes as [send] returns or throws. */
    public fun sendAsync(frame: Frame, expireAfter: Duration? = this.expireAfter): Deferred<Unit> {
        require(frame is Frame.Text || frame is Frame.Binary) { "only text and binary frames are buffered, not $frame" }
        require(expireAfter == null || expireAfter.isPositive()) { "expireAfter must be positive but was $expireAfter" }
        val handle = attachedClient()
        val entry = Entry(sequence.incrementAndGet(), frame, expireAfter)
        if (expireAfter != null) {
            entry.expiry = timers.launch {
                delay(expireAfter)
                val removed = synchronized(lock) {
                    entry.overdue = true
                    take(entry)
                }
                if (removed) {
                    droppedExpired.countIf {
                        entry.written.completeExceptionally(FrameExpiredException(expireAfter))
                    }
                }
            }
            entry.written.invokeOnCompletion { entry.expiry?.cancel() }
        }
        route(handle, entry)
        return entry.written
    }

    /** For Java: [sendAsync] as a future whose dependents never run on the client's own thread. */
    public fun sendFuture(frame: Frame): CompletableFuture<Void?> =
        sendAsync(frame).offLoopFuture(attachedClient().shared)

    /** For Java: [sendFuture] of a text frame. */
    public fun sendText(text: String): CompletableFuture<Void?> = sendFuture(Frame.Text(text))

    /** Counts so far; safe from any thread. */
    public fun metrics(): OutboundBufferMetrics = synchronized(lock) {
        OutboundBufferMetrics(
            buffered = buffered.size,
            bufferedBytes = bufferedBytes,
            delivered = delivered.get(),
            droppedOverflow = droppedOverflow.get(),
            droppedExpired = droppedExpired.get(),
        )
    }

    override suspend fun onConnect() {
        val handle = attachedClient()
        // Taken under the lock, written outside it: enqueue from onConnect goes ahead of frames queued meanwhile.
        val flush = synchronized(lock) {
            live = true
            buffered.values.toList().also {
                buffered.clear()
                bufferedBytes = 0
            }
        }
        for ((i, entry) in flush.withIndex()) {
            val written = try {
                handle.enqueue(entry.frame)
            } catch (e: ParleyException) {
                // The connection is going down already: these wait for the next one.
                synchronized(lock) { flush.drop(i).forEach(::putBack) }
                return
            }
            settleWith(entry, written)
        }
    }

    override suspend fun onDisconnect(reason: DisconnectReason) {
        synchronized(lock) { live = false }
    }

    override fun onStop(reason: StopReason) {
        val left = synchronized(lock) {
            stopped = reason
            live = false
            buffered.values.toList().also {
                buffered.clear()
                bufferedBytes = 0
            }
        }
        left.forEach { it.written.completeExceptionally(ClientStoppedException(reason)) }
        if (::timers.isInitialized) timers.cancel()
    }

    override fun toString(): String = "OutboundBuffer(${metrics()})"

    /** Hands [entry] to the connection when there is one, else into the buffer. */
    private fun route(handle: ClientHandle, entry: Entry) {
        val keep = synchronized(lock) { !live }
        if (keep) {
            admit(entry)
            return
        }
        when (val sent = handle.trySend(entry.frame)) {
            is SendResult.Enqueued -> settleWith(entry, sent.written)

            // The connection went down between the check and the send: the frame waits for the next one.
            is SendResult.Rejected -> if (sent.cause is NotConnectedException ||
                sent.cause is ConnectionClosedException
            ) {
                admit(entry)
            } else {
                entry.written.completeExceptionally(sent.cause)
            }
        }
    }

    /** Settles [entry] as its write does; a frame the connection dropped unwritten goes back in its place. */
    private fun settleWith(entry: Entry, write: Deferred<Unit>) {
        write.invokeOnCompletion { cause ->
            when {
                cause == null -> delivered.countIf { entry.written.complete(Unit) }
                cause is ConnectionClosedException && !cause.mayHaveBeenWritten -> synchronized(lock) { putBack(entry) }
                else -> entry.written.completeExceptionally(cause)
            }
        }
    }

    /** A new frame, into a buffer that may be full. */
    private fun admit(entry: Entry) {
        val refused = synchronized(lock) {
            stopped?.let { return@synchronized ClientStoppedException(it) }
            if (entry.bytes > maxBytes) return@synchronized OutboundBufferFullException(maxFrames, maxBytes)
            when (overflow) {
                Overflow.REJECT_NEWEST ->
                    if (buffered.size >= maxFrames || bufferedBytes + entry.bytes > maxBytes) {
                        return@synchronized OutboundBufferFullException(maxFrames, maxBytes)
                    }

                Overflow.DROP_OLDEST ->
                    while (buffered.size >= maxFrames || bufferedBytes + entry.bytes > maxBytes) {
                        val oldest = buffered.pollFirstEntry().value
                        bufferedBytes -= oldest.bytes
                        droppedOverflow.countIf {
                            oldest.written.completeExceptionally(OutboundBufferFullException(maxFrames, maxBytes))
                        }
                    }
            }
            buffered[entry.sequence] = entry
            bufferedBytes += entry.bytes
            null
        }
        when (refused) {
            null -> Unit
            is OutboundBufferFullException -> droppedOverflow.countIf { entry.written.completeExceptionally(refused) }
            else -> entry.written.completeExceptionally(refused)
        }
    }

    /**
     * A frame that was accepted once and came back unwritten: it goes in at its place, even past the bounds, since it
     * is older than anything a bound could refuse. Called under [lock].
     */
    private fun putBack(entry: Entry) {
        if (entry.written.isCompleted) return
        if (entry.overdue) {
            droppedExpired.countIf { entry.written.completeExceptionally(FrameExpiredException(entry.expireAfter!!)) }
            return
        }
        val reason = stopped
        if (reason != null) {
            entry.written.completeExceptionally(ClientStoppedException(reason))
            return
        }
        buffered[entry.sequence] = entry
        bufferedBytes += entry.bytes
        if (live) {
            // Came back after the next connection's flush: send it now rather than wait for another connection.
            buffered.remove(entry.sequence)
            bufferedBytes -= entry.bytes
            val handle = attachedClient()
            timers.launch { route(handle, entry) }
        }
    }

    /** Takes [entry] out of the buffer if it is there. Called under [lock]. */
    private fun take(entry: Entry): Boolean {
        if (buffered.remove(entry.sequence) !== entry) return false
        bufferedBytes -= entry.bytes
        return true
    }

    private fun attachedClient(): ClientHandle = client.get()
        ?: throw IllegalStateException(
            "this OutboundBuffer is not attached: add it with layer(…) to a client's options",
        )

    public companion object {
        /** For Java: a buffer of [maxFrames] frames and [maxBytes] bytes whose frames expire after [expireAfter]. */
        @JvmStatic
        public fun create(maxFrames: Int, maxBytes: Long, expireAfter: java.time.Duration?): OutboundBuffer =
            OutboundBuffer(maxFrames, maxBytes, expireAfter?.toKotlinDuration())
    }
}

/**
 * The [OutboundBuffer] was full: this frame was refused, or (with `DROP_OLDEST`) it was the oldest and made room.
 *
 * @property maxFrames the buffer's bound in frames.
 * @property maxBytes the buffer's bound in payload bytes.
 */
public class OutboundBufferFullException(
    public val maxFrames: Int,
    public val maxBytes: Long,
) : ParleyException("the outbound buffer is full ($maxFrames frames, $maxBytes bytes): the frame was not sent")

/**
 * The frame waited longer than its expiry for a connection and was dropped, never sent.
 *
 * @property expireAfter how long it could wait.
 */
public class FrameExpiredException(
    public val expireAfter: Duration,
) : ParleyException("no connection took the frame within $expireAfter: it was dropped, never sent") {
    /** [expireAfter] in milliseconds, for Java. */
    public val expireAfterMillis: Long get() = expireAfter.inWholeMilliseconds
}

/**
 * What an [OutboundBuffer] holds and has done.
 *
 * @property buffered frames waiting for a connection.
 * @property bufferedBytes their payload bytes.
 * @property delivered frames written, through the buffer or straight.
 * @property droppedOverflow frames refused or dropped because the buffer was full.
 * @property droppedExpired frames dropped because they waited past their expiry.
 */
public data class OutboundBufferMetrics(
    val buffered: Int,
    val bufferedBytes: Long,
    val delivered: Long,
    val droppedOverflow: Long,
    val droppedExpired: Long,
)
