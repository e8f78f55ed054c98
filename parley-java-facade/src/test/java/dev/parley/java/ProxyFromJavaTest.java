package dev.parley.java;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import dev.parley.ConnectFailedException;
import dev.parley.ProxyAuthRequiredException;
import dev.parley.ProxyAuthenticator;
import dev.parley.ProxySettings;
import dev.parley.testing.KtorTestServer;
import dev.parley.testing.ProxyPeer;
import dev.parley.testing.ProxyPeers;
import java.net.URI;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The proxy options from Java, through a real tinyproxy that asks for Basic credentials. */
class ProxyFromJavaTest {
    @Test
    void anHttpProxyWithBasicCredentialsCarriesTheConnectionAndWithoutThemTheFailureIsTyped() {
        assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
            try (KtorTestServer server = new KtorTestServer(false); ProxyPeer proxy = ProxyPeers.INSTANCE.tinyproxy("alice", "secret")) {
                server.start();
                LinkedBlockingQueue<String> echoes = new LinkedBlockingQueue<>();
                try (ParleyWebSocket ws = ParleyWebSocket.builder(URI.create(server.url("/ws")))
                        .proxy(ProxySettings.http(proxy.getHost(), proxy.getPort(), ProxyAuthenticator.basic("alice", "secret")))
                        .listener(new ParleyListener() {
                            @Override public void onText(Reply reply, String text) { echoes.add(text); }
                        })
                        .build()) {
                    ws.connect().get(10, TimeUnit.SECONDS);
                    ws.sendText("through the proxy").get(10, TimeUnit.SECONDS);
                    assertEquals("through the proxy", echoes.poll(10, TimeUnit.SECONDS));
                }
                try (ParleyWebSocket ws = ParleyWebSocket.builder(URI.create(server.url("/ws")))
                        .proxy(ProxySettings.http(proxy.getHost(), proxy.getPort()))
                        .noReconnect()
                        .listener(new ParleyListener() {})
                        .build()) {
                    ExecutionException e = assertThrows(ExecutionException.class, () -> ws.connect().get(10, TimeUnit.SECONDS));
                    ConnectFailedException failed = assertInstanceOf(ConnectFailedException.class, e.getCause());
                    assertInstanceOf(ProxyAuthRequiredException.class, failed.getCause());
                }
            }
        });
    }
}
