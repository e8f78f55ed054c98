package dev.parley.internal

import dev.parley.AttemptContext
import dev.parley.CloseCodes
import dev.parley.ConnectFailedException
import dev.parley.ConnectionClosedException
import dev.parley.ConnectionInfo
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
import dev.parley.Recovery
import dev.parley.RetriesExhaustedException
import dev.parley.StopReason
import dev.parley.internal.deflate.DeflateNegotiation
import dev.parley.internal.transport.SocketTransport
import dev.parley.parseWebSocketUrl
import dev.parley.transport.Opcode
import dev.parley.transport.OpenRequest
import dev.parley.transport.Transport
import dev.parley.transport.WireFrame
import dev.parley.validateHeader
import dev.parley.validateSubprotocol
import dev.parley.withoutQuery
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.CoroutineExceptionHandler
import kotlinx.coroutines.CoroutineName
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Deferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancelChildren
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import kotlinx.coroutines.selects.select
import java.time.Instant
import kotlin.random.Random
import kotlin.time.Duration
import kotlin.time.Duration.Companion.nanoseconds

/**
 * The one coroutine that owns a client's connection: it takes one input at a time (a caller's command, a helper's
 * report), runs it through the [transition] table, executes the effects, and publishes the state. Everything mutable
 * here is touched only by that coroutine. Its parts: [Mailbox] and [SendQueue] (callers in), [Waiters] (callers waiting
 * for an answer), [launchAttempt] (opening a connection), [LiveSession] (one open connection), [HandlerInvoker] (the
 * user's callbacks).
 */
internal class ConnectionLoop<S> private constructor(
    private val handler: ParleyHandler<S>,
    initialState: S,
    private val shared: ClientShared,
    private val transport: Transport,
    private val random: Random,
    private val clock: Clock,
) {
    private val options = shared.options
    private val log = shared.log
    private val telemetry = shared.telemetry
    private val tapping = options.wireTap?.let { Tapping(it, log) }

    /** Our permessage-deflate offer, a header of every upgrade request, when compression is on. */
    private val deflateOffer: Pair<String, String>? =
        options.compression?.let { DeflateNegotiation.HEADER to DeflateNegotiation.offer(it) }

    /**
     * Bounds the bytes of received messages held for the handler (see [InboundBudget]). A waiting reader wakes the
     * loop, which then settles the results that have completed and so gives their bytes back.
     */
    private val budget: InboundBudget = InboundBudget(options.maxBufferedInboundBytes) { invoker.wake.trySend(Unit) }
    private val invoker: HandlerInvoker<S> =
        HandlerInvoker(
            initialState,
            options.maxPendingCallbacks,
            budget,
            ::handlerFailed,
            ::carryOut,
            telemetry.pendingCallbacks,
        )

    /**
     * Reports from the loop's helpers. Each helper sends a handful at most and then ends or waits on the loop, so the
     * capacity only decides how far a reader may run ahead of the handler. A session reported but never read (the
     * client stopped first) is closed here: nobody else would.
     */
    private val events = Channel<Tagged>(EVENT_CAPACITY) { discard(it.input) }

    /**
     * The budget held by the inbound message being handled, until a later result takes it over ([carryOut]) or the
     * loop releases it when done with the message ([onTagged]).
     */
    private var chargeOfInbound = 0L

    private var phase: Phase = Phase.Disconnected(0)
    private var nextAttemptIn: Duration? = null

    /** Bumped whenever a connection or attempt ends, so late reports from its helpers are recognised and dropped. */
    private var generation = 0L

    /** Attempts started so far; the running or last one is number [attempts]. */
    private var attempts = 0L

    /** The number of the last attempt that connected. */
    private var connectedAttempt = 0L

    /** [Clock.nanos] when the running or last attempt started, for [ParleyEvent.Connected.connectTime]. */
    private var attemptStartedNanos = 0L

    /** How long the last attempt that connected took, from its start to the completed upgrade. */
    private var connectTime = Duration.ZERO

    /** Connections opened so far; the current or last one is number [connection]. */
    private var connection = 0L

    /** The running connection attempt, or `null`. */
    private var attempt: Job? = null

    /** The open connection, or `null` outside Connected and Closing. */
    private var session: LiveSession? = null

    /** The timer of the current phase (retry, stable or close), or `null`. */
    private var timer: Job? = null

    private val waiters = Waiters()

    /** The loop's own scope: attempts and timers are its children and die with it. */
    private lateinit var loopScope: CoroutineScope

    /** A close frame was queued in the step being executed, so releasing the socket gives it a moment to leave. */
    private var closeQueued = false

    private suspend fun run() {
        var failure: Throwable? = null
        Liveness.loops.incrementAndGet()
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
        } catch (e: Throwable) {
            // Not the handler's (the invoker catches that) nor a cancellation: the loop itself broke. Say so, rather
            // than let terminate() report a cancellation nobody asked for.
            log.error("the client failed; stopping", e)
            if (phase !is Phase.Stopped) phase = Phase.Stopped(StopReason.Failed(e))
            throw e
        } finally {
            failure = terminate()
            Liveness.loops.decrementAndGet()
        }
        failure?.let { throw it }
    }

    private suspend fun initialise(): Boolean {
        val result = invoker.call { handler.init(it) } ?: return false
        when (result) {
            is InitResult.Init -> invoker.state = result.state
            is InitResult.Stop -> fire(Event.StopRequested(StopReason.ByHandler(result.reason)))
        }
        return phase !is Phase.Stopped
    }

    private suspend fun receiveOne() {
        if (invoker.hasCompletedResult) invoker.settleReady()
        if (invoker.isFull) return waitForRoom()
        // Fast path without a select (which costs more than handling a small frame): a caller's command first, so a
        // flood of inbound frames cannot starve it, then the helpers' next report.
        shared.mailbox.poll(othersFirst = true)?.let { return onCommand(it) }
        events.tryReceive().getOrNull()?.let { return onTagged(it) }
        shared.mailbox.poll(othersFirst = false)?.let { return onCommand(it) }
        val draining = phase is Phase.Disconnected || phase is Phase.Closing
        select {
            shared.mailbox.registerIn(this, stopOnly = false) { onCommand(it) }
            events.onReceive { onTagged(it) }
            // Nobody writes while down or closing, so frames queued then are answered here rather than left waiting.
            if (draining) {
                shared.sendQueue.frames.onReceive {
                    it.fail(if (phase is Phase.Closing) ConnectionClosedException(null) else NotConnectedException())
                }
            }
            invoker.wake.onReceive { invoker.settleReady() }
        }
    }

    /**
     * The window of later results is full: read nothing more until half of it is free again, but let a stop through.
     * Waiting for a single free place would let each completing callback wake the loop for just one more frame, a
     * wake-up of the client's thread per message for as long as the peer sends faster than the callbacks run.
     */
    private suspend fun waitForRoom() {
        while (invoker.isOverHalfFull && phase !is Phase.Stopped) {
            invoker.nextToMakeRoom?.let { awaitOrStop(it) }
            invoker.settleReady()
        }
    }

    /** Waits for [result]; a stop requested meanwhile is acted on at once (a result may never complete). */
    private suspend fun awaitOrStop(result: Deferred<*>) {
        select {
            result.onJoin {}
            shared.mailbox.registerIn(this, stopOnly = true) { onCommand(it) }
        }
    }

    /**
     * Lets go of a report nobody will act on (its connection or attempt has ended, or the client stopped first): a
     * session an attempt opened is closed here, since nobody else would, and a message gives its budget back.
     */
    private fun discard(input: LoopInput) {
        when (input) {
            is Opened -> input.session.abort()
            is InboundEvent -> budget.release(input.charge)
            else -> Unit
        }
    }

    private suspend fun onTagged(tagged: Tagged) {
        if (tagged.generation != generation) return discard(tagged.input)
        when (val input = tagged.input) {
            is InboundEvent -> {
                chargeOfInbound = input.charge
                try {
                    onInbound(input.inbound, input.receivedAtNanos)
                } finally {
                    budget.release(chargeOfInbound)
                    chargeOfInbound = 0
                }
            }

            is Opened -> opened(input)

            HeartbeatDue -> onHeartbeatDue()

            is Event -> fire(input)
        }
    }

    private suspend fun onCommand(command: Command) {
        when (command) {
            is Command.Info -> onHandlerAction { handler.onInfo(command.message, it) }

            is Command.Connect -> onConnectCommand(command)

            is Command.Disconnect -> {
                waiters.awaitDisconnected(command.reply)
                fire(Event.CloseRequested(command.close))
                // Down already (or the attempt was abandoned): the caller need not wait for a handshake.
                if (phase !is Phase.Connected && phase !is Phase.Closing) waiters.disconnected()
            }

            is Command.Stop ->
                fire(
                    Event.StopRequested(if (command.abort) StopReason.Aborted else StopReason.Requested, command.abort),
                )
        }
    }

    private suspend fun onConnectCommand(command: Command.Connect) {
        val joined =
            command.joinAttempt?.let { joinedAttemptOutcome(it, attempts, connectedAttempt, phase is Phase.Connecting) }
        when {
            phase is Phase.Connected || joined == true -> command.reply.complete(Unit)

            joined == false ->
                command.reply.completeExceptionally(
                    ConnectFailedException(
                        shared.lastReason ?: DisconnectReason.ConnectFailed(IllegalStateException()),
                    ),
                )

            else -> {
                waiters.awaitConnected(command.reply)
                fire(Event.ConnectRequested)
            }
        }
    }

    private suspend fun onInbound(inbound: Inbound, receivedAtNanos: Long) {
        // Messages the peer sends after our close frame still reach the handler, until its own close arrives.
        val live = session?.takeIf { phase is Phase.Connected || phase is Phase.Closing }
        when (inbound) {
            is Inbound.Message ->
                if (live != null && !appHeartbeatTook(live, inbound.frame, receivedAtNanos)) {
                    onHandlerAction { handler.onFrame(inbound.frame, it) }
                }

            is Inbound.Pong -> {
                val rtt = live?.heartbeat?.onPong(inbound.payload, receivedAtNanos)
                if (rtt != null) {
                    heartbeatAnswered(live, rtt)
                } else if (live != null) {
                    onHandlerAction { handler.onPong(inbound.payload, it) }
                }
            }

            is Inbound.Ping ->
                if (live != null) {
                    // RFC 6455 §5.5.2: answer before anything else; a full control queue may drop a pong (only the
                    // latest ping needs one), never block the loop. Nothing may follow our close frame.
                    if (phase is Phase.Connected && !live.offerControl(WireFrame(Opcode.PONG, inbound.payload))) {
                        telemetry.droppedPongs.incrementAndGet()
                    }
                    onHandlerAction { handler.onPing(inbound.payload, it) }
                }

            is Inbound.Close -> fire(Event.PeerClosed(inbound.code, inbound.reason))

            is Inbound.Violation -> {
                log.warn("closing with {}: {}", inbound.closeCode, inbound.reason)
                fire(Event.Violated(inbound.reason, inbound.closeCode))
            }
        }
    }

    /**
     * Whether the application-level heartbeat, if any, took [frame]: the answer to one of our pings (a round trip), or
     * a server's own ping, which it answers at once. Every message counts as proof of life first.
     */
    private suspend fun appHeartbeatTook(live: LiveSession, frame: Frame, receivedAtNanos: Long): Boolean {
        val heartbeat = live.heartbeat ?: return false
        val app = heartbeat.app ?: return false
        heartbeat.onMessage(receivedAtNanos)
        try {
            val answered = app.pongSequence(frame)
            if (answered != null) {
                heartbeat.onAppPong(answered, receivedAtNanos)?.let { heartbeatAnswered(live, it) }
                return true
            }
            val answer = app.answer(frame) ?: return false
            if (phase is Phase.Connected) live.offerControl(shared.wire(answer))
            return true
        } catch (e: Exception) {
            // The AppHeartbeat is the user's code, as a handler is.
            handlerFailed(e)
            return true
        }
    }

    private fun heartbeatAnswered(live: LiveSession, rtt: Duration) {
        telemetry.recordRoundTrip(rtt)
        telemetry.emit(ParleyEvent.HeartbeatAnswered(rtt))
        // The check was set for the pong timeout; answered, the next ping is due an idle interval from now.
        live.scheduleHeartbeat(options.heartbeat!!.interval)
    }

    private suspend fun onHeartbeatDue() {
        val live = session?.takeIf { phase is Phase.Connected } ?: return
        val heartbeat = live.heartbeat ?: return
        val next = try {
            heartbeat.onDue()
        } catch (e: Exception) {
            // An AppHeartbeat's ping() threw: the user's code, as a handler is.
            handlerFailed(e)
            return
        }
        when (next) {
            is Heartbeat.Next.Wait -> live.scheduleHeartbeat(next.delay)

            is Heartbeat.Next.AppPing -> {
                val frame = try {
                    shared.wire(next.frame)
                } catch (e: Exception) {
                    handlerFailed(e)
                    return
                }
                live.offerControl(frame)
                live.scheduleHeartbeat(next.delay)
            }

            is Heartbeat.Next.Ping -> {
                live.offerControl(WireFrame(Opcode.PING, next.payload))
                live.scheduleHeartbeat(next.delay)
            }

            Heartbeat.Next.Dead -> {
                val timeout = options.heartbeat!!.pongTimeout
                telemetry.heartbeatMissed()
                telemetry.emit(ParleyEvent.HeartbeatTimedOut(timeout))
                log.warn("no pong or other frame within {} of a ping: the connection is dead", timeout)
                fire(Event.HeartbeatTimedOut(DisconnectReason.HeartbeatTimedOut(timeout)))
            }
        }
    }

    private suspend fun fire(event: Event) {
        // Results of earlier callbacks are carried out before anything this event makes the client write or call;
        // a stop no longer waits for them.
        if (event is Event.StopRequested) invoker.abandon() else invoker.settleAll(::awaitOrStop)
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
        for (effect in step.effects) {
            when (effect) {
                // Published with Disconnected, and known before the session is released: a frame its writer had
                // taken then fails with the reason the handler is about to hear, or as "stopped".
                is Effect.CallOnDisconnect -> shared.lastReason = effect.reason

                is Effect.Terminate -> shared.stopReason = effect.reason

                else -> Unit
            }
        }
        shared.reconnectAttempts = phase.failures
        // A scheduled retry publishes itself, with its delay; Stopped is published once everything is released.
        if (step.effects.none { it is Effect.ScheduleRetry || it is Effect.Terminate }) publish()
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

            is Effect.FailConnectWaiters -> waiters.connectFailed(effect.reason)

            is Effect.SendClose ->
                closeQueued = session?.offerControl(closeFrame(effect.code, effect.reason)) == true

            Effect.ReleaseTransport -> releaseSession(abort = false)

            Effect.AbortTransport -> releaseSession(abort = true)

            Effect.StartCloseTimer -> startTimer(options.closeTimeout, Event.CloseTimedOut)

            // Also without a configured policy: a handler that answers Reconnect gets its failure count reset too.
            Effect.StartStableTimer ->
                startTimer((options.reconnect ?: ReconnectPolicy.DEFAULT).stableAfter, Event.StableElapsed)

            is Effect.ScheduleRetry -> {
                val delay = effect.chosen
                    ?: backoffDelay(options.reconnect ?: ReconnectPolicy.DEFAULT, effect.attempt, random)
                        .coerceAtLeast(effect.notBefore ?: Duration.ZERO)
                nextAttemptIn = delay
                log.info("reconnecting in {} (attempt {})", delay, effect.attempt + 1)
                telemetry.emit(ParleyEvent.ReconnectScheduled(delay, effect.attempt + 1))
                startTimer(delay, Event.RetryDue)
                publish()
            }

            is Effect.FailQueued -> failQueued(effect.reason)

            // Its reason was recorded when the step began (before any release); terminate() runs as the loop ends.
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
        attempts++
        shared.currentAttempt = attempts
        val context = AttemptContext(phase.failures + 1, connection, shared.lastReason)
        telemetry.emit(ParleyEvent.Connecting(phase.failures))
        attemptStartedNanos = clock.nanos()
        attempt = loopScope.launchAttempt(transport, { upgradeRequest(context) }, options, generation, events)
    }

    /**
     * The upgrade request of one attempt: the options, with what the connection info provider gives for it. Runs at
     * the start of the attempt, inside its connect timeout; an exception ends the attempt (ConnectAttempt).
     */
    private suspend fun upgradeRequest(context: AttemptContext): OpenRequest {
        val info = options.connectionInfo?.connectionInfo(context) ?: ConnectionInfo.UNCHANGED
        val uri = info.url?.let(::parseWebSocketUrl) ?: options.uri
        info.headers.forEach { (name, value) -> validateHeader(name, value) }
        info.subprotocols?.forEach(::validateSubprotocol)
        val headers = options.headers + info.headers + listOfNotNull(deflateOffer)
        log.info("connecting to {}", uri.withoutQuery())
        if (log.isDebugEnabled) {
            val byName = headers.groupBy({ it.first }, { it.second })
            log.debug("upgrade headers: {}", options.redacted(byName))
        }
        return OpenRequest(uri, headers, info.subprotocols ?: options.subprotocols, options.maxFrameSize)
    }

    private suspend fun opened(report: Opened) {
        val transportSession = report.session
        if (phase !is Phase.Connecting) {
            transportSession.abort()
            return
        }
        attempt = null
        connectedAttempt = attempts
        connectTime = (clock.nanos() - attemptStartedNanos).coerceAtLeast(0).nanoseconds
        connection++
        log.connection = connection
        telemetry.connection = connection
        // Told before the session starts, so the tap hears of the connection before any of its frames.
        val sessionTap = tapping?.connected(connection, transportSession.subprotocol)
        val live =
            LiveSession(
                transportSession,
                generation,
                loopScope.coroutineContext,
                shared.sendQueue.frames,
                options,
                telemetry,
                events,
                budget,
                log,
                clock,
                sessionTap,
            )
        session = live
        telemetry.lastInboundNanos = clock.nanos()
        live.start()
        if (connection > 1) telemetry.totalReconnects.incrementAndGet()
        log.info("connected to {} (subprotocol {})", report.uri.withoutQuery(), transportSession.subprotocol)
        fire(Event.Upgraded)
    }

    private suspend fun callOnConnect() {
        val live = session ?: return
        telemetry.connectedSince = Instant.now()
        telemetry.stateChanged()
        val headers = options.redacted(live.transport.responseHeaders)
        shared.state.value = ConnectionState.Connected(live.transport.subprotocol, headers, connection)
        telemetry.emit(ParleyEvent.Connected(live.transport.subprotocol, connection, connectTime))
        shared.onConnectControl = live.controlQueue
        try {
            onHandlerAction { handler.onConnect(it) }
            invoker.settleAll(::awaitOrStop)
        } finally {
            shared.onConnectControl = null
        }
        if (phase is Phase.Connected) {
            live.writer.openForUserFrames()
            waiters.connected()
        }
    }

    private suspend fun callOnDisconnect(effect: Effect.CallOnDisconnect) {
        val reason = effect.reason
        log.info("disconnected: {} ({})", reason.explain(), reason)
        telemetry.emit(ParleyEvent.Disconnected(reason))
        tapping?.disconnected(reason)
        waiters.disconnected()
        // The recovery policy is the user's code too: it runs here, and a throw from it is a handler failure.
        val (decision, recovery) =
            invoker.call { handler.onDisconnect(reason, it) to options.recoveryPolicy.recovery(reason) } ?: return
        invoker.state = decision.state
        val kind =
            when (decision) {
                is DisconnectDecision.Default -> Decision.Default
                is DisconnectDecision.Reconnect -> Decision.Reconnect(decision.after)
                is DisconnectDecision.StayDisconnected -> Decision.Stay
                is DisconnectDecision.Stop -> Decision.Stop(decision.reason)
            }
        if (recovery is Recovery.Fatal && kind == Decision.Default && options.reconnect != null && !effect.userClosed) {
            log.warn(
                "not reconnecting: {} will not change by trying again; connect() once it is fixed",
                reason.explain(),
            )
        }
        fire(Event.Decided(kind, effect.userClosed, reason, recovery))
    }

    /** Runs a handler callback that returns an action, and carries the action out (or holds it, if it is Later). */
    private suspend fun onHandlerAction(callback: suspend (S) -> HandlerAction<S>) {
        val action = invoker.call(callback) ?: return
        invoker.state = action.state
        // The common answer, without a call that costs a continuation per message.
        if (action !is HandlerAction.Ok) carryOut(action, generation)
    }

    /**
     * Carries out [action], which answers an event of [from], the generation then current: a later result whose
     * connection (or attempt, or time between them) has ended since is no longer current.
     */
    private suspend fun carryOut(action: HandlerAction<S>, from: Long) {
        val current = from == generation
        when (action) {
            is HandlerAction.Ok -> Unit

            is HandlerAction.Push -> {
                val live = session
                if (current && phase is Phase.Connected && live != null) {
                    for (frame in action.frames) {
                        val wire = try {
                            shared.wire(frame)
                        } catch (e: Exception) {
                            // prepareFrame threw: the user's code, as the handler that pushed is.
                            handlerFailed(e)
                            return
                        }
                        live.push(wire)
                    }
                } else {
                    log.warn("push of {} frame(s) dropped: not connected ({})", action.frames.size, shared.state.value)
                }
            }

            // While down there is nothing to close: as in Elixir Parley, only the state changes (a scheduled retry
            // stays scheduled).
            is HandlerAction.Disconnect ->
                if (current && phase !is Phase.Disconnected) {
                    fire(Event.CloseRequested(PendingClose(action.closeCode, "", byHandler = true, action.reason)))
                } else {
                    log.debug("a Disconnect action ignored: no connection or attempt it answers is open")
                }

            is HandlerAction.Stop -> fire(Event.StopRequested(StopReason.ByHandler(action.reason)))

            is HandlerAction.Later -> {
                if (invoker.isFull) waitForRoom()
                // The message it answers stays held until the result is settled.
                if (phase !is Phase.Stopped) {
                    invoker.hold(action.result, from, chargeOfInbound)
                    chargeOfInbound = 0
                }
            }
        }
    }

    /** A callback threw (or a later result failed): the client stops with it. */
    private suspend fun handlerFailed(cause: Throwable) {
        log.error("handler failed; stopping", cause)
        telemetry.emit(ParleyEvent.HandlerFailed(cause))
        fire(Event.StopRequested(StopReason.HandlerFailed(cause)))
    }

    private fun releaseSession(abort: Boolean) {
        val live = session ?: return
        generation++
        session = null
        // A stopping client answers every sender before stop() returns, even one whose frame is stuck in a write
        // the close frame's grace period is still waiting on: it may have been written, and is told so.
        if (phase is Phase.Stopped) live.writer.failInFlight(closedBy(null, inFlight = true))
        live.release(closeQueued, abort)
    }

    private fun failQueued(reason: DisconnectReason?) {
        // Frames already being written are the writer's to settle: they may well reach the peer. If releasing the
        // session cuts them off, they fail with this reason; while closing (reason null) they precede our close frame.
        if (reason != null) session?.writer?.endReason = reason
        shared.sendQueue.failQueued(closedBy(reason))
    }

    private fun publish() {
        val next =
            when (val p = phase) {
                is Phase.Disconnected ->
                    ConnectionState.Disconnected(shared.lastReason, nextAttemptIn, p.failures, p.deciding)

                is Phase.Connecting -> ConnectionState.Connecting(p.failures)

                // Connected is published by callOnConnect, which knows the session; Closing keeps it.
                is Phase.Connected, is Phase.Closing -> return

                // Published by terminate(), once everything is released.
                is Phase.Stopped -> return
            }
        if (next::class != shared.state.value::class) telemetry.stateChanged()
        shared.state.value = next
    }

    /** Releases everything, answers every caller, publishes Stopped, and returns what a linked scope must see. */
    private fun terminate(): Throwable? {
        val reason = shared.stopReason ?: (phase as? Phase.Stopped)?.reason ?: StopReason.Cancelled(null)
        shared.stopReason = reason
        generation++
        attempt?.cancel()
        timer?.cancel()
        session?.release(closeQueued = false, abort = true)
        session = null
        // A client stopped while connected (cancelled, aborted) ends its connection without an onDisconnect.
        tapping?.disconnected(DisconnectReason.ClosedLocally(CloseCodes.GOING_AWAY, "client stopped", false))
        invoker.abandon()
        try {
            (handler as? StopAware)?.stopped(reason)
        } catch (e: Exception) {
            // Too late to fail anything: the client is stopping either way. Said, not swallowed.
            log.error("a layer failed while the client stopped", e)
        }
        shared.mailbox.close(reason)
        shared.sendQueue.close()
        events.cancel()
        transport.close()
        waiters.stopped(reason)
        telemetry.stateChanged()
        shared.state.value = ConnectionState.Stopped(reason)
        telemetry.emit(ParleyEvent.Stopped(reason))
        log.info("stopped: {}", reason)
        return when (reason) {
            // A CancellationException would end the loop as "cancelled", which fails no parent scope: carry it inside.
            is StopReason.HandlerFailed ->
                reason.cause.takeUnless { it is CancellationException }
                    ?: IllegalStateException("a handler callback threw ${reason.cause}", reason.cause)

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
            transport: Transport = options.transport?.create(options) ?: SocketTransport(options),
            // One client's loop, reader, writer and timers take turns on one thread at a time, as on an event loop:
            // handing a frame from the reader to the loop, or a push from the loop to the writer, is then a queue
            // append on the same worker instead of waking another thread (the dominant cost of a small message on a
            // pipelined connection). Different clients still run in parallel.
            dispatcher: CoroutineDispatcher = (options.dispatcher ?: Dispatchers.Default).limitedParallelism(1),
            random: Random = Random.Default,
            clock: Clock = Clock.SYSTEM,
        ): ParleyClient {
            val log = ClientLog(options.name)
            val shared = ClientShared(options, Telemetry(options.sendQueueCapacity, clock, log), log)
            shared.dispatcher = dispatcher
            // Layers decorate the handler; they are attached before the loop runs, so before any of their callbacks.
            val layers = options.layers
            val loop = ConnectionLoop(
                if (layers.isEmpty()) handler else LayeredHandler(handler, layers),
                initialState,
                shared,
                transport,
                random,
                clock,
            )
            val scope =
                parent ?: CoroutineScope(
                    SupervisorJob() + CoroutineExceptionHandler { _, e ->
                        log.debug("standalone client failed: {}", e)
                    },
                )
            val context = dispatcher + CoroutineName(options.name) + LoopMarker(shared)
            val job = scope.launch(context, CoroutineStart.LAZY) { loop.run() }
            val client = ClientHandle(shared, job)
            try {
                for (layer in layers) layer.attach(client)
            } catch (e: Throwable) {
                job.cancel()
                throw e
            }
            job.start()
            return client
        }
    }
}
