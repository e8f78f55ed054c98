package dev.parley.java.internal

import kotlinx.coroutines.suspendCancellableCoroutine
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.Executor
import java.util.concurrent.atomic.AtomicBoolean
import kotlin.coroutines.resume

/**
 * Runs tasks on [delegate] one at a time, in submission order, so one client's listener callbacks never overlap
 * whatever executor the user gives (a pool, or an Android main-thread executor). Tasks submitted while it drains are
 * run in the same turn, so a burst costs one hand-off to [delegate], not one per task.
 *
 * While it runs a task the thread is marked ([isRunningTask]), so the facade can tell that a call comes from one of
 * its callbacks (or from a future it completes) and must not block waiting for the client.
 */
internal class SerialExecutor(
    private val delegate: Executor,
) : Executor {
    private val tasks = ConcurrentLinkedQueue<Runnable>()
    private val draining = AtomicBoolean()

    override fun execute(task: Runnable) {
        tasks.add(task)
        schedule()
    }

    private fun schedule() {
        if (draining.compareAndSet(false, true)) delegate.execute(::drain)
    }

    private fun drain() {
        val outer = running.get()
        running.set(this)
        try {
            while (true) (tasks.poll() ?: break).run()
        } finally {
            running.set(outer)
            draining.set(false)
            // A task added after the last poll but before the flag cleared would otherwise wait for the next submit.
            if (tasks.isNotEmpty()) schedule()
        }
    }

    /** Whether the current thread is running one of this executor's tasks. */
    val isCurrent: Boolean get() = running.get() === this

    /** Runs [block] on this executor and suspends until it has run, returning its result or throwing its exception. */
    suspend fun <T> run(block: () -> T): T =
        // Resuming with a Result and throwing here keeps the listener's exception the very same instance (resuming
        // with an exception would let coroutine stack-trace recovery hand on a copy).
        suspendCancellableCoroutine<Result<T>> { continuation -> execute { continuation.resume(runCatching(block)) } }
            .getOrThrow()

    companion object {
        /** The SerialExecutor whose task the current thread is running, if any. */
        private val running = ThreadLocal<SerialExecutor?>()

        /** Whether the current thread is running a task of some SerialExecutor: a listener callback, or a future's. */
        val isRunningTask: Boolean get() = running.get() != null
    }
}
