package dev.parley.internal

import dev.parley.ClientStoppedException
import dev.parley.StopReason
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.selects.SelectBuilder
import java.util.concurrent.atomic.AtomicInteger

/** A request from a caller to the connection loop. Each one that carries a reply is answered exactly once. */
internal sealed class Command {
    /**
     * [joinAttempt]: the number of the attempt that was running (or about to start) when connect() was called, or
     * `null` if none was. A connect() made while connecting is answered by that attempt, even if the loop reads the
     * command only after the attempt has ended: it must not open a second connection nobody asked for.
     */
    class Connect(
        val reply: CompletableDeferred<Unit>,
        val joinAttempt: Long?,
    ) : Command()

    class Disconnect(
        val close: PendingClose,
        val reply: CompletableDeferred<Unit>,
    ) : Command()

    /** [abort]: drop the socket without a close frame ([dev.parley.ParleyClient.cancel]). */
    class Stop(
        val abort: Boolean,
    ) : Command()

    class Info(
        val message: Any,
    ) : Command()

    /** Fails or completes [reply] because the client stopped before the loop could act on this command. */
    fun refuse(reason: StopReason?) {
        when (this) {
            is Connect -> reply.completeExceptionally(ClientStoppedException(reason))
            is Disconnect -> reply.complete(Unit)
            is Stop, is Info -> Unit
        }
    }
}

/**
 * The loop's inbox from callers, in three lanes so that none can hold up another: a stop request (one slot, never
 * full: stop() must get through whatever else is queued), connect and disconnect requests (each caller waits for its
 * answer, so the lane is as long as the number of waiting callers, bounded), and tell() messages (bounded like the
 * send queue; a flood of them cannot delay a stop or a disconnect).
 *
 * Every command that carries a reply is answered exactly once: by the loop, or by [close] when the client stops
 * with the command still queued, or by its sender when the mailbox was already closed.
 */
internal class Mailbox(
    infoCapacity: Int,
) {
    /** Conflated: asking twice to stop is asking once; an abort is never downgraded to a graceful stop. */
    private val stops = Channel<Command.Stop>(Channel.CONFLATED)
    private val requests = Channel<Command>(REQUEST_CAPACITY) { it.refuse(stoppedFor) }

    @Volatile
    private var stoppedFor: StopReason? = null
    private val infos = Channel<Command.Info>(infoCapacity)

    /**
     * Rung after anything is put in a lane, so the idle loop waits on one channel rather than on every lane (each
     * clause of a select costs the loop on every wait). A ring nobody answers stays until the next wait: at worst one
     * needless look at the lanes.
     */
    private val doorbell = Channel<Unit>(Channel.CONFLATED)

    /** Alternates between told messages and the loop's other inputs, so neither starves the other. */
    private var infoTurn = false

    fun requestStop(abort: Boolean): Boolean {
        // An abort must win over a graceful stop already queued, and never the other way round.
        val asked =
            if (!abort && stops.tryReceive().getOrNull()?.abort == true) {
                stops.trySend(Command.Stop(true)).isSuccess
            } else {
                stops.trySend(Command.Stop(abort)).isSuccess
            }
        return asked.also { ring() }
    }

    /** Queues a connect or disconnect request, waiting for room; throws ClosedSendChannelException once stopped. */
    suspend fun request(command: Command) {
        requests.send(command)
        ring()
    }

    /** Queues a request without waiting; `false` if the lane is full or closed. */
    fun tryRequest(command: Command): Boolean = requests.trySend(command).isSuccess.also { if (it) ring() }

    fun tell(message: Any): Boolean = infos.trySend(Command.Info(message)).isSuccess.also { if (it) ring() }

    /** Commands put in a lane and not taken yet, so the loop's every turn costs one read when there are none. */
    private val queued = AtomicInteger()

    private fun ring() {
        queued.incrementAndGet()
        doorbell.trySend(Unit)
    }

    /** The next command to act on, without waiting: a stop first, then requests, then (every other time) a message. */
    fun poll(othersFirst: Boolean): Command? {
        if (queued.get() <= 0) return null
        stops.tryReceive().getOrNull()?.let { return taken(it) }
        requests.tryReceive().getOrNull()?.let { return taken(it) }
        if (othersFirst && !infoTurn) {
            infoTurn = true
            return null
        }
        infoTurn = false
        return infos.tryReceive().getOrNull()?.let { taken(it) }
    }

    private fun taken(command: Command): Command = command.also { queued.decrementAndGet() }

    /**
     * For the loop's select: wakes when a command may be waiting and hands over the most urgent one, if any is still
     * there; with [stopOnly], only for a stop request.
     */
    fun registerIn(select: SelectBuilder<Unit>, stopOnly: Boolean, onCommand: suspend (Command) -> Unit) {
        select.apply {
            if (stopOnly) {
                stops.onReceive { onCommand(taken(it)) }
            } else {
                doorbell.onReceive { poll(othersFirst = false)?.let { onCommand(it) } }
            }
        }
    }

    /**
     * Answers whatever is still queued and refuses what comes: the client has stopped for [reason]. Cancelling (not
     * just closing) the lanes also resumes callers still waiting for room; ClientHandle turns that into
     * ClientStoppedException.
     */
    fun close(reason: StopReason?) {
        stoppedFor = reason
        stops.cancel()
        requests.cancel()
        infos.cancel()
        doorbell.cancel()
    }

    private companion object {
        /** Requests in flight at once; callers beyond it wait for room (they are waiting for their answer anyway). */
        const val REQUEST_CAPACITY = 64
    }
}
