package dev.parley.samples.connecting

import dev.parley.DisconnectDecision
import dev.parley.DisconnectReason
import dev.parley.ParleyHandler
import dev.parley.ParleyOptions
import dev.parley.Recovery
import dev.parley.RecoveryPolicy
import dev.parley.parleyOptions
import kotlin.time.Duration.Companion.minutes

fun recoveringOptions(): ParleyOptions = parleyOptions {
    url = "wss://api.example.com/ws"
    reconnect()
    // This server answers 403 while an account is being unlocked: retry those too (with backoff), not only the
    // recoverable ones.
    recoveryPolicy = RecoveryPolicy { reason ->
        if ((reason as? DisconnectReason.HandshakeRejected)?.status == 403) Recovery.Recoverable() else reason.recovery
    }
}

/** Logs every disconnect in one line, and waits out the server's maintenance window. */
class MaintenanceAware : ParleyHandler<Unit> {
    override suspend fun onDisconnect(reason: DisconnectReason, state: Unit): DisconnectDecision<Unit> {
        val verdict = if (reason.recovery is Recovery.Fatal) "fatal" else "will retry"
        println("disconnected: ${reason.explain()} ($verdict)")
        return if (reason is DisconnectReason.ClosedByPeer && reason.reason == "maintenance") {
            DisconnectDecision.Reconnect(state, after = 5.minutes)
        } else {
            DisconnectDecision.Default(state)
        }
    }
}
