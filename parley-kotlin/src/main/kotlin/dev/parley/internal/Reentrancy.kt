package dev.parley.internal

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.ThreadContextElement
import kotlinx.coroutines.currentCoroutineContext
import kotlin.coroutines.AbstractCoroutineContextElement
import kotlin.coroutines.ContinuationInterceptor
import kotlin.coroutines.CoroutineContext

/**
 * Marks the coroutines of one client's loop (handler callbacks run there), and the thread while one of them runs.
 *
 * A handler calling its own client cannot wait for the loop, because the loop is waiting for the handler. With this
 * marker a call recognises where it comes from: from a callback ([Caller.CALLBACK]) commands are requested without
 * waiting; from code that *blocks* the loop's thread inside a callback (`runBlocking { client.send(..) }`,
 * [Caller.BLOCKED_LOOP]) nothing can complete, since the client's writer needs that very thread, so such calls fail
 * at once instead of deadlocking.
 */
internal class LoopMarker(
    val owner: ClientShared,
) : AbstractCoroutineContextElement(LoopMarker),
    ThreadContextElement<ClientShared?> {
    companion object Key : CoroutineContext.Key<LoopMarker>

    override fun updateThreadContext(context: CoroutineContext): ClientShared? {
        val previous = runningOnThread.get()
        runningOnThread.set(owner)
        return previous
    }

    override fun restoreThreadContext(context: CoroutineContext, oldState: ClientShared?) {
        runningOnThread.set(oldState)
    }
}

private val runningOnThread = ThreadLocal<ClientShared?>()

/** Whether the calling thread is running one of this client's loop coroutines right now (a callback, say). */
internal fun ClientShared.isRunningOnThisThread(): Boolean = runningOnThread.get() === this

internal enum class Caller {
    /** Any other thread or coroutine: calls wait as documented. */
    OUTSIDE,

    /** A handler callback of this client (or a coroutine it started that inherits its context). */
    CALLBACK,

    /** Blocking code on this client's own thread, inside a callback: nothing it waits for could ever happen. */
    BLOCKED_LOOP,
}

internal suspend fun ClientShared.caller(): Caller {
    val context = currentCoroutineContext()
    return when {
        context[LoopMarker]?.owner === this -> Caller.CALLBACK

        // On the loop's thread but in another coroutine: one resumed in place by the loop's own code (Unconfined, e.g.
        // a sender woken by the writer taking from the queue) can still suspend, so it is an ordinary caller; any
        // other (runBlocking's event loop) holds the thread until it returns.
        runningOnThread.get() === this && context[ContinuationInterceptor] != Dispatchers.Unconfined ->
            Caller.BLOCKED_LOOP

        else -> Caller.OUTSIDE
    }
}

/** Why a call from [Caller.BLOCKED_LOOP] is refused; thrown as an IllegalStateException. */
internal const val BLOCKED_LOOP_RULE =
    "called while blocking the client's own thread from inside one of its callbacks (e.g. runBlocking in a handler): " +
        "the client's writer needs that thread, so this could never complete. " +
        "Suspend instead of blocking, or use trySend"
