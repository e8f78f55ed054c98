package dev.parley.internal

import dev.parley.ClientStoppedException
import dev.parley.ConnectFailedException
import dev.parley.ConnectionClosedException
import dev.parley.ConnectionState
import dev.parley.DisconnectDecision
import dev.parley.DisconnectReason
import dev.parley.Frame
import dev.parley.HandlerAction
import dev.parley.InitResult
import dev.parley.NotConnectedException
import dev.parley.ParleyClient
import dev.parley.ParleyEvent
import dev.parley.ParleyHandler
import dev.parley.ParleyOptions
import dev.parley.ReconnectPolicy
import dev.parley.RetriesExhaustedException
import dev.parley.StopReason
import dev.parley.internal.transport.HandshakeRejectedException
import dev.parley.internal.transport.KtorTransport
import dev.parley.internal.transport.Opcode
import dev.parley.internal.transport.OpenRequest
import dev.parley.internal.transport.SocketTransport
import dev.parley.internal.transport.Transport
import dev.parley.internal.transport.TransportSession
import dev.parley.internal.transport.WireFrame
import dev.parley.withoutQuery
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.CoroutineExceptionHandler
import kotlinx.coroutines.CoroutineName
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancelChildren
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import kotlinx.coroutines.selects.select
import kotlinx.coroutines.withTimeoutOrNull
import org.slf4j.LoggerFactory
import java.time.Instant
import kotlin.random.Random
import kotlin.time.Duration

/**
 * The one coroutine that owns a client's connection: it runs the [transition] table, executes its effects, calls the
 * handler one callback at a time, and publishes the state. Everything mutable here is touched only by that coroutine;
 * callers reach it through [ClientShared]'s channels, and its helpers (attempt, session, timers) through [events].
 */
internal class ConnectionLoop<S> private constructor(
    private val handler: ParleyHandler<S>,
    private var userState: S,
    private val shared: ClientShared,
    private val transport: Transport,
    private val random: Random,
    private val clock: Clock,
) {
    private val options = shared.options
    private val log = shared.log
    private val telemetry = shared.telemetry

    /**
     * Facts from the loop's helpers. Each helper sends a handful at most and then ends or waits on the loop, so the
     * capacity only decides how far a reader may run ahead of the handler.
     */
    private val events = Channel<Tagged>(EVENT_CAPACITY)

    private var phase: Phase = Phase.Disconnected(0, retryScheduled = false)
    private var nextAttemptIn: Duration? = null

    /** Bumped whenever a connection or attempt ends, so late events from its helpers are recognised and dropped. */
    private var generation = 0L

    /** The running connection attempt, or `null`. */
    private var attempt: Job? = null

    /** The open connection, or `null` outside Connected and Closing. */
    private var session: LiveSession? = null

    /** The timer of the current phase (retry, stable or close), or `null`. */
    private var timer: Job? = null

    private val connectWaiters = mutableListOf<CompletableDeferred<Unit>>()
    private val disconnectWaiters = mutableListOf<CompletableDeferred<Unit>>()

    /** The loop's own scope: helpers (attempt, session, timers) are its children and die with it. */
    private lateinit var loopScope: CoroutineScope

    /** A close frame was queued in the step being executed, so releasing the socket waits briefly for it. */
    private var closeQueued = false

    /** A connect() that arrived during the close handshake, to be honoured once it ends. */
    private var connectAfterClose = false

    /** Whether a connection has been opened before: the next one counts as a reconnect. */
    private var connectedBefore = false

    private suspend fun run() {
        var failure: Throwable? = null
        try {
            coroutineScope {
                loopScope = this
                if (initialise()) {
                    fire(Event.ConnectRequested)
                    while (phase !is Phase.Stopped) receiveOne()
                }
                coroutineContext.cancelChildren()
            }
        } catch (e: CancellationException) {
            if (phase !is Phase.Stopped) phase = Phase.Stopped(StopReason.Cancelled(e))
            throw e
        } finally {
            failure = terminate()
        }
        failure?.let { throw it }
    }

    private suspend fun initialise(): Boolean {
        val result = callHandler { handler.init(userState) } ?: return false
        when (result) {
            is InitResult.Init -> userState = result.state
            is InitResult.Stop -> fire(Event.StopRequested(StopReason.ByHandler(result.reason)))
        }
        return phase !is Phase.Stopped
    }

    private suspend fun receiveOne() {
        // Fast path without a select (which costs more than handling a small frame): a caller's command first, so a
        // flood of inbound frames cannot starve it, then the helpers' next event.
        shared.mailbox.tryReceive().getOrNull()?.let { return onCommand(it) }
        events.tryReceive().getOrNull()?.let { return onTagged(it) }
        val draining = phase is Phase.Disconnected || phase is Phase.Closing
        select {
            events.onReceive { onTagged(it) }
            shared.mailbox.onReceive { onCommand(it) }
            // Nobody writes while down or closing, so frames queued then are answered here rather than left waiting.
            if (draining) {
                shared.sendQueue.onReceive {
                    it.fail(if (phase is Phase.Closing) ConnectionClosedException(null) else NotConnectedException())
                }
            }
        }
    }

    private suspend fun onTagged(tagged: Tagged) {
        if (tagged.generation == generation) {
            onEvent(tagged.event)
        } else {
            // An attempt abandoned after it succeeded: nobody else will close that connection.
            (tagged.event as? Opened)?.session?.abort()
        }
    }

    private suspend fun onCommand(command: Command) {
        when (command) {
            is Command.Info -> onHandlerAction { handler.onInfo(command.message, userState) }

            is Command.Connect ->
                when (phase) {
                    is Phase.Connected -> command.reply.complete(Unit)

                    is Phase.Closing -> {
                        connectAfterClose = true
                        connectWaiters += command.reply
                    }

                    else -> {
                        connectWaiters += command.reply
                        fire(Event.ConnectRequested)
                    }
                }

            is Command.Disconnect -> {
                if (phase is Phase.Connected || phase is Phase.Closing) {
                    disconnectWaiters += command.reply
                } else {
                    command.reply.complete(Unit)
                }
                connectAfterClose = false
                fire(Event.CloseRequested(command.close))
            }

            Command.Stop -> fire(Event.StopRequested(StopReason.Requested))
        }
    }

    private suspend fun onEvent(event: Event) {
        when (event) {
            is InboundEvent -> onInbound(event.inbound, event.receivedAtNanos)
            is Opened -> opened(event.session)
            HeartbeatDue -> onHeartbeatDue()
            else -> fire(event)
        }
    }

    private suspend fun onInbound(inbound: Inbound, receivedAtNanos: Long) {
        val live = session?.takeIf { phase is Phase.Connected }
        when (inbound) {
            is Inbound.Message -> if (live != null) onHandlerAction { handler.onFrame(inbound.frame, userState) }

            is Inbound.Pong -> {
                val rtt = live?.heartbeat?.onPong(inbound.payload, receivedAtNanos)
                if (rtt != null) {
                    telemetry.recordRoundTrip(rtt)
                } else if (live != null) {
                    onHandlerAction { handler.onPong(inbound.payload, userState) }
                }
            }

            is Inbound.Ping ->
                if (live != null) {
                    // RFC 6455 §5.5.2: answer before anything else; a full control queue may drop a pong (only the
                    // latest ping needs one), never block the loop.
                    live.offerControl(WireFrame(Opcode.PONG, inbound.payload))
                    onHandlerAction { handler.onPing(inbound.payload, userState) }
                }

            is Inbound.Close -> fire(Event.PeerClosed(inbound.code, inbound.reason))

            is Inbound.Violation -> {
                log.warn("closing with {}: {}", inbound.closeCode, inbound.reason)
                fire(Event.Violated(inbound.reason, inbound.closeCode))
            }
        }
    }

    private suspend fun onHeartbeatDue() {
        val live = session?.takeIf { phase is Phase.Connected } ?: return
        val heartbeat = live.heartbeat ?: return
        when (val next = heartbeat.onDue()) {
            is Heartbeat.Next.Wait -> live.scheduleHeartbeat(next.delay)

            is Heartbeat.Next.Ping -> {
                live.offerControl(WireFrame(Opcode.PING, next.payload))
                live.scheduleHeartbeat(next.delay)
            }

            Heartbeat.Next.Dead -> {
                val timeout = options.heartbeat!!.pongTimeout
                telemetry.missedPongs.incrementAndGet()
                telemetry.emit(ParleyEvent.HeartbeatTimedOut(timeout))
                log.warn("no pong or other frame within {} of a ping: the connection is dead", timeout)
                fire(Event.HeartbeatTimedOut(DisconnectReason.HeartbeatTimedOut(timeout)))
            }
        }
    }

    private suspend fun fire(event: Event) {
        val step = transition(phase, event, options.reconnect)
        if (step == null) {
            log.debug("{} ignored in {}", event, phase)
            return
        }
        val previous = phase
        phase = step.next
        val retryCancelled = (phase as? Phase.Disconnected)?.retryScheduled == false
        if (previous::class != phase::class || retryCancelled) {
            timer?.cancel()
            timer = null
            nextAttemptIn = null
        }
        log.debug("{} + {} -> {}", previous, event, phase)
        // Publish Disconnected once, with the reason the handler is about to hear.
        step.effects.firstNotNullOfOrNull { it as? Effect.CallOnDisconnect }?.let { shared.lastReason = it.reason }
        // Known before the session is released, so a frame its writer had taken fails as "stopped", not "closed".
        step.effects.firstNotNullOfOrNull { it as? Effect.Terminate }?.let { shared.stopReason = it.reason }
        shared.reconnectAttempts = phase.failures
        // A scheduled retry publishes itself, with its delay.
        if (step.effects.none { it is Effect.ScheduleRetry }) publish()
        if (phase is Phase.Connecting && previous !is Phase.Connecting) {
            telemetry.emit(ParleyEvent.Connecting((phase as Phase.Connecting).failures))
        }
        for (effect in step.effects) execute(effect)
        closeQueued = false
    }

    private suspend fun execute(effect: Effect) {
        when (effect) {
            Effect.OpenTransport -> openTransport()

            Effect.CancelAttempt -> {
                generation++
                attempt?.cancel()
                attempt = null
            }

            Effect.CallOnConnect -> callOnConnect()

            is Effect.CallOnDisconnect -> callOnDisconnect(effect)

            is Effect.SendClose ->
                closeQueued = session?.offerControl(closeFrame(effect.code, effect.reason)) == true

            Effect.ReleaseTransport -> releaseSession(abort = false)

            Effect.AbortTransport -> releaseSession(abort = true)

            Effect.StartCloseTimer -> startTimer(options.closeTimeout, Event.CloseTimedOut)

            Effect.StartStableTimer -> options.reconnect?.let { startTimer(it.stableAfter, Event.Stable) }

            is Effect.ScheduleRetry -> {
                val delay = backoffDelay(options.reconnect ?: ReconnectPolicy.DEFAULT, effect.attempt, random)
                nextAttemptIn = delay
                log.info("reconnecting in {} (attempt {})", delay, effect.attempt + 1)
                telemetry.emit(ParleyEvent.ReconnectScheduled(delay, effect.attempt + 1))
                startTimer(delay, Event.RetryDue)
                publish()
            }

            is Effect.FailQueued -> failQueued(effect.reason)

            // Its reason was recorded when the step began (before any release), in fire().
            is Effect.Terminate -> Unit
        }
    }

    private fun startTimer(after: Duration, event: Event) {
        timer?.cancel()
        val tag = Tagged(generation, event)
        timer =
            loopScope.launch {
                delay(after)
                events.send(tag)
            }
    }

    private fun openTransport() {
        generation++
        val tag = generation
        val request = OpenRequest(options.uri, options.headers, options.subprotocols, options.maxFrameSize)
        log.info("connecting to {}", options.uri.withoutQuery())
        if (log.isDebugEnabled) {
            log.debug("upgrade headers: {}", options.redacted(options.headers.groupBy({ it.first }, { it.second })))
        }
        attempt =
            loopScope.launch {
                val outcome = openOnce(request)
                try {
                    events.send(Tagged(tag, outcome))
                } catch (e: Throwable) {
                    (outcome as? Opened)?.session?.abort()
                    throw e
                }
            }
    }

    /** One attempt, bounded as a whole by the connect timeout: an [Opened] session or an [Event.AttemptFailed]. */
    private suspend fun openOnce(request: OpenRequest): Event = try {
        withTimeoutOrNull(options.connectTimeout) { Opened(transport.open(request)) }
            ?: Event.AttemptFailed(DisconnectReason.ConnectTimedOut(options.connectTimeout))
    } catch (e: CancellationException) {
        throw e
    } catch (e: HandshakeRejectedException) {
        Event.AttemptFailed(DisconnectReason.HandshakeRejected(e.status, options.redacted(e.headers), e.message ?: ""))
    } catch (e: Throwable) {
        val timedOut = generateSequence(e) { it.cause }.any { it.javaClass.simpleName.contains("ConnectTimeout") }
        val reason =
            if (timedOut) {
                DisconnectReason.ConnectTimedOut(
                    options.connectTimeout,
                )
            } else {
                DisconnectReason.ConnectFailed(e)
            }
        Event.AttemptFailed(reason)
    }

    private suspend fun opened(transportSession: TransportSession) {
        if (phase !is Phase.Connecting) {
            transportSession.abort()
            return
        }
        attempt = null
        val live =
            LiveSession(
                transportSession,
                generation,
                loopScope,
                shared.sendQueue,
                options,
                telemetry,
                events,
                log,
                clock,
            )
        session = live
        telemetry.lastInboundNanos = clock.nanos()
        live.start()
        if (connectedBefore) telemetry.totalReconnects.incrementAndGet()
        connectedBefore = true
        log.info("connected to {} (subprotocol {})", options.uri.withoutQuery(), transportSession.subprotocol)
        fire(Event.Upgraded)
    }

    private suspend fun callOnConnect() {
        val live = session ?: return
        telemetry.connectedSince = Instant.now()
        telemetry.stateChanged()
        val headers = options.redacted(live.transport.responseHeaders)
        shared.state.value = ConnectionState.Connected(live.transport.subprotocol, headers)
        telemetry.emit(ParleyEvent.Connected(live.transport.subprotocol))
        onHandlerAction { handler.onConnect(userState) }
        if (phase is Phase.Connected) {
            live.writer.openForUserFrames()
            connectWaiters.forEach { it.complete(Unit) }
            connectWaiters.clear()
        }
    }

    private suspend fun callOnDisconnect(effect: Effect.CallOnDisconnect) {
        log.info("disconnected: {}", effect.reason)
        telemetry.emit(ParleyEvent.Disconnected(effect.reason))
        val failed = ConnectFailedException(effect.reason)
        connectWaiters.forEach { it.completeExceptionally(failed) }
        connectWaiters.clear()
        disconnectWaiters.forEach { it.complete(Unit) }
        disconnectWaiters.clear()
        val decision = callHandler { handler.onDisconnect(effect.reason, userState) } ?: return
        userState = decision.state
        val kind =
            when (decision) {
                is DisconnectDecision.Default -> Decision.DEFAULT
                is DisconnectDecision.Reconnect -> Decision.RECONNECT
                is DisconnectDecision.StayDisconnected -> Decision.STAY
            }
        fire(Event.Decided(kind, effect.userClosed, effect.reason))
        if (connectAfterClose && phase is Phase.Disconnected) {
            connectAfterClose = false
            fire(Event.ConnectRequested)
        }
    }

    /** Runs a handler callback that returns an action, and applies the action. */
    private suspend fun onHandlerAction(callback: suspend () -> HandlerAction<S>) {
        val action = callHandler(callback) ?: return
        userState = action.state
        when (action) {
            is HandlerAction.Ok -> Unit

            is HandlerAction.Push -> {
                val live = session
                if (phase is Phase.Connected && live != null) {
                    for (frame in action.frames) live.push(frame.toWire())
                } else {
                    log.warn("push of {} frame(s) dropped: not connected ({})", action.frames.size, shared.state.value)
                }
            }

            is HandlerAction.Disconnect ->
                fire(Event.CloseRequested(PendingClose(action.closeCode, "", byHandler = true, action.reason)))

            is HandlerAction.Stop -> fire(Event.StopRequested(StopReason.ByHandler(action.reason)))
        }
    }

    /** Calls the handler; a throw stops the client with [StopReason.HandlerFailed] and yields `null`. */
    private suspend fun <T> callHandler(callback: suspend () -> T): T? = try {
        callback()
    } catch (e: CancellationException) {
        throw e
    } catch (e: Throwable) {
        log.error("handler failed; stopping", e)
        telemetry.emit(ParleyEvent.HandlerFailed(e))
        fire(Event.StopRequested(StopReason.HandlerFailed(e)))
        null
    }

    private suspend fun releaseSession(abort: Boolean) {
        val live = session ?: return
        generation++
        session = null
        live.release(closeQueued, abort)
    }

    private fun failQueued(reason: DisconnectReason?) {
        val cause = closedBy(reason)
        // Frames already being written are the writer's to settle: they may well reach the peer. If releasing the
        // session cuts them off, they fail with this reason; while closing (reason null) they precede our close frame.
        if (reason != null) session?.writer?.endReason = reason
        while (true) {
            val out = shared.sendQueue.tryReceive().getOrNull() ?: break
            out.fail(cause)
        }
    }

    private fun publish() {
        val next =
            when (val p = phase) {
                is Phase.Disconnected -> ConnectionState.Disconnected(shared.lastReason, nextAttemptIn, p.failures)

                is Phase.Connecting -> ConnectionState.Connecting(p.failures)

                // Connected is published by callOnConnect, which knows the session; Closing keeps it.
                is Phase.Connected, is Phase.Closing -> return

                is Phase.Stopped -> ConnectionState.Stopped(p.reason)
            }
        if (next::class != shared.state.value::class) telemetry.stateChanged()
        shared.state.value = next
    }

    /** Releases everything, publishes Stopped, and returns the failure a linked scope must see, if any. */
    private fun terminate(): Throwable? {
        val reason = shared.stopReason ?: (phase as? Phase.Stopped)?.reason ?: StopReason.Cancelled(null)
        shared.stopReason = reason
        generation++
        attempt?.cancel()
        timer?.cancel()
        session?.abort()
        shared.mailbox.close()
        shared.sendQueue.cancel()
        events.cancel()
        transport.close()
        val stopped = ClientStoppedException(reason)
        connectWaiters.forEach { it.completeExceptionally(stopped) }
        disconnectWaiters.forEach { it.complete(Unit) }
        telemetry.stateChanged()
        shared.state.value = ConnectionState.Stopped(reason)
        telemetry.emit(ParleyEvent.Stopped(reason))
        log.info("stopped: {}", reason)
        return when (reason) {
            is StopReason.HandlerFailed -> reason.cause
            is StopReason.RetriesExhausted -> RetriesExhaustedException(reason.attempts, reason.last)
            else -> null
        }
    }

    internal companion object {
        private const val EVENT_CAPACITY = 16

        fun <S> start(
            parent: CoroutineScope?,
            handler: ParleyHandler<S>,
            initialState: S,
            options: ParleyOptions,
            transport: Transport = if (options.httpClient != null) KtorTransport(options) else SocketTransport(options),
            // One client's loop, reader, writer and timers take turns on one thread at a time, as on an event loop:
            // handing a frame from the reader to the loop, or a push from the loop to the writer, is then a queue
            // append on the same worker instead of waking another thread (the dominant cost of a small message on a
            // pipelined connection). Different clients still run in parallel.
            dispatcher: CoroutineDispatcher = Dispatchers.Default.limitedParallelism(1),
            random: Random = Random.Default,
            clock: Clock = Clock.SYSTEM,
        ): ParleyClient {
            val log = LoggerFactory.getLogger("dev.parley.Parley.${options.name}")
            val shared = ClientShared(options, Telemetry(options.sendQueueCapacity, clock, log), log)
            val loop = ConnectionLoop(handler, initialState, shared, transport, random, clock)
            val scope =
                parent ?: CoroutineScope(
                    SupervisorJob() + CoroutineExceptionHandler { _, e -> log.debug("standalone client failed", e) },
                )
            val job = scope.launch(dispatcher + CoroutineName(options.name)) { loop.run() }
            return ClientHandle(shared, job)
        }
    }
}

/** An event from a helper, tagged with the generation of the connection or attempt it belongs to. */
internal class Tagged(
    val generation: Long,
    val event: Event,
)

/** Inbound traffic and an opened session travel as events too, but never reach the table directly. */
internal class InboundEvent(
    val inbound: Inbound,
    /** [Clock.nanos] when the frame was read. */
    val receivedAtNanos: Long,
) : Event()

internal class Opened(
    val session: TransportSession,
) : Event()
