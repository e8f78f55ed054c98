package dev.parley.samples.connecting;

import dev.parley.java.DisconnectInfo;
import dev.parley.java.ParleyListener;
import dev.parley.java.ParleyWebSocket;
import dev.parley.java.ReconnectDecision;
import java.net.URI;
import java.time.Duration;

public final class Recovering {
    public static ParleyWebSocket recovering(ParleyListener listener) {
        return ParleyWebSocket.builder(URI.create("wss://api.example.com/ws"))
            .reconnect(Duration.ofSeconds(1), Duration.ofSeconds(30), -1)
            // This server answers 403 while an account is being unlocked: retry those too, with backoff.
            .recoveryPolicy(info -> info.httpStatus() == 403 || info.recoverable())
            .listener(listener)
            .build();
    }

    /** Logs every disconnect in one line, and waits out the server's maintenance window. */
    public static final class MaintenanceAware implements ParleyListener {
        @Override
        public ReconnectDecision onDisconnect(DisconnectInfo reason) {
            System.out.println("disconnected: " + reason.explanation()
                + (reason.recoverable() ? " (will retry)" : " (fatal)"));
            if (reason.kind() == DisconnectInfo.Kind.CLOSED_BY_PEER && reason.closeReason().equals("maintenance")) {
                return ReconnectDecision.reconnectAfter(Duration.ofMinutes(5));
            }
            return ReconnectDecision.DEFAULT;
        }
    }

    private Recovering() {}
}
