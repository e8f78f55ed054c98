package dev.parley.internal

import dev.parley.ClientStoppedException
import dev.parley.ConnectFailedException
import dev.parley.DisconnectReason
import dev.parley.StopReason
import kotlinx.coroutines.CompletableDeferred

/**
 * The callers of connect() and disconnect() waiting for the loop, each answered exactly once: connect() callers when
 * a connection is up (after onConnect), when the attempt they wait for fails, or when the client stops;
 * disconnect() callers once the client is disconnected or stopped. Touched by the loop only.
 */
internal class Waiters {
    private val connects = mutableListOf<CompletableDeferred<Unit>>()
    private val disconnects = mutableListOf<CompletableDeferred<Unit>>()

    fun awaitConnected(reply: CompletableDeferred<Unit>) {
        connects += reply
    }

    fun awaitDisconnected(reply: CompletableDeferred<Unit>) {
        disconnects += reply
    }

    fun connected() = answer(connects) { it.complete(Unit) }

    fun connectFailed(reason: DisconnectReason) = answer(connects) {
        it.completeExceptionally(ConnectFailedException(reason))
    }

    fun disconnected() = answer(disconnects) { it.complete(Unit) }

    fun stopped(reason: StopReason) {
        answer(connects) { it.completeExceptionally(ClientStoppedException(reason)) }
        disconnected()
    }

    private inline fun answer(
        waiting: MutableList<CompletableDeferred<Unit>>,
        how: (CompletableDeferred<Unit>) -> Unit,
    ) {
        waiting.forEach(how)
        waiting.clear()
    }
}

/**
 * What a connect() that joined attempt [joined] (see [Command.Connect.joinAttempt]) gets, given that [attempts]
 * attempts have started, the last to connect was [connectedAttempt], and whether one is running now ([connecting]):
 * `true` (it connected), `false` (it failed), or `null` (still running: wait for it like any connect()).
 */
internal fun joinedAttemptOutcome(joined: Long, attempts: Long, connectedAttempt: Long, connecting: Boolean): Boolean? =
    when {
        // It has connected since, and may have ended already: that is its answer.
        connectedAttempt >= joined -> true

        // It ended without connecting.
        joined < attempts || !connecting -> false

        else -> null
    }
