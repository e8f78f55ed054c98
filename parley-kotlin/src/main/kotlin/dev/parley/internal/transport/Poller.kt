package dev.parley.internal.transport

import kotlinx.coroutines.CancellableContinuation
import kotlinx.coroutines.suspendCancellableCoroutine
import java.io.IOException
import java.nio.channels.CancelledKeyException
import java.nio.channels.ClosedChannelException
import java.nio.channels.SelectionKey
import java.nio.channels.Selector
import java.nio.channels.SocketChannel
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.atomic.AtomicReference
import kotlin.coroutines.resume
import kotlin.coroutines.resumeWithException

/*
 * Why Parley runs its own selector: Ktor's socket layer puts a coroutine per direction between the NIO channel and
 * the byte channels Parley read from, which cost two thread hand-offs per message each way (BENCHMARKS.md). Here the
 * selector only reports readiness; the connection's own reader and writer do every read and write themselves, and try
 * the channel first, so a socket that is ready costs no hand-off at all. One selector thread serves every connection
 * in the process: no thread per connection.
 */

/**
 * Readiness of one non-blocking [channel], as told by the shared selector. At most one reader and one writer wait at a
 * time (the session's reader and writer). [close] closes the channel, wakes whoever waits with an IOException and has
 * the selector drop the registration at once, which is what releases the descriptor: the JDK closes a registered
 * channel's descriptor only when its key leaves the selector.
 */
internal class Readiness(val channel: SocketChannel) {
    private val readWaiter = AtomicReference<CancellableContinuation<Unit>?>()
    private val writeWaiter = AtomicReference<CancellableContinuation<Unit>?>()

    /** Set on the selector thread only. */
    private var key: SelectionKey? = null

    @Volatile
    private var closed = false

    suspend fun awaitReadable() = await(SelectionKey.OP_READ, readWaiter)

    suspend fun awaitWritable() = await(SelectionKey.OP_WRITE, writeWaiter)

    /** Also used for the TCP connect, which completes when the channel becomes connectable. */
    suspend fun awaitConnectable() = await(SelectionKey.OP_CONNECT, writeWaiter)

    private suspend fun await(op: Int, waiter: AtomicReference<CancellableContinuation<Unit>?>) {
        if (closed) throw ClosedChannelException()
        suspendCancellableCoroutine { cont ->
            check(waiter.compareAndSet(null, cont)) { "two coroutines wait for the same readiness" }
            // The selector thread re-reads `closed` after registering, so a close racing with this wait still wakes it.
            Poller.submit { register(op) }
            cont.invokeOnCancellation { waiter.compareAndSet(cont, null) }
        }
    }

    /** On the selector thread: adds [op] to the key's interest, registering the channel the first time. */
    private fun register(op: Int) {
        if (closed) return wakeAll()
        val current = key
        try {
            if (current == null) {
                key = channel.register(Poller.selector, op, this)
            } else {
                current.interestOps(current.interestOps() or op)
            }
        } catch (e: Exception) {
            // Closed or cancelled in between: whoever waits must hear of it rather than wait forever.
            wakeAll()
        }
    }

    /** On the selector thread: the channel is ready for [ready]; resumes the waiters and narrows the interest. */
    fun onReady(selected: SelectionKey) {
        val ready =
            try {
                selected.readyOps().also { selected.interestOps(selected.interestOps() and it.inv()) }
            } catch (_: CancelledKeyException) {
                // Closed from another thread since the selector chose it: close() wakes the waiters.
                return
            }
        // Interest is one-shot (narrowed above): the next wait asks again, so a channel nobody waits on never keeps
        // the selector busy.
        if (ready and SelectionKey.OP_READ != 0) readWaiter.getAndSet(null)?.resume(Unit)
        if (ready and (SelectionKey.OP_WRITE or SelectionKey.OP_CONNECT) != 0) writeWaiter.getAndSet(null)?.resume(Unit)
    }

    /** Closes the channel and wakes whoever waits; idempotent, never throws. */
    fun close() {
        if (closed) return
        closed = true
        try {
            channel.close()
        } catch (_: IOException) {
            // Nothing left to do for a channel that failed to close.
        }
        // The selector drops the cancelled key on its next pass; waking it now releases the descriptor now.
        Poller.submit { wakeAll() }
    }

    private fun wakeAll() {
        key?.cancel()
        val cause = ClosedChannelException()
        readWaiter.getAndSet(null)?.resumeWithException(cause)
        writeWaiter.getAndSet(null)?.resumeWithException(cause)
    }
}

/** The one selector thread. Work for it is queued and the selector woken, since keys belong to its thread. */
internal object Poller {
    val selector: Selector = Selector.open()
    private val tasks = ConcurrentLinkedQueue<Runnable>()

    init {
        Thread(::run, "parley-selector").apply {
            isDaemon = true
            start()
        }
    }

    fun submit(task: Runnable) {
        tasks.add(task)
        selector.wakeup()
    }

    private fun run() {
        while (true) {
            try {
                while (true) tasks.poll()?.run() ?: break
                selector.select()
                val selected = selector.selectedKeys()
                for (key in selected) (key.attachment() as Readiness).onReady(key)
                selected.clear()
            } catch (e: Throwable) {
                // One bad key or task must not stop every connection in the process.
                if (e is VirtualMachineError) throw e
            }
        }
    }
}
