package dev.parley.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.net.Socket;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The JUnit 5 extension, from Java: a fresh started server per test, injected, closed after the test. */
class WebSocketTestServerExtensionTest {
    private static final List<Integer> PORTS = new ArrayList<>();

    @RegisterExtension
    final WebSocketTestServerExtension ws =
        new WebSocketTestServerExtension(WebSocketTestServer.builder().path("/echo").echo());

    private WebSocketTestServer fromBeforeEach;

    @BeforeEach
    void before(WebSocketTestServer server) {
        fromBeforeEach = server;
    }

    @Test
    void injectsAStartedServerConfiguredByTheBuilder(WebSocketTestServer server) throws Exception {
        PORTS.add(server.port());
        assertSame(fromBeforeEach, server, "one server per test, whoever asks");
        assertSame(ws.server(), server);
        assertEquals("ws://127.0.0.1:" + server.port() + "/echo", server.url());
        WebSocket client = HttpClient.newHttpClient().newWebSocketBuilder()
            .buildAsync(server.uri(), new WebSocket.Listener() {}).get(5, TimeUnit.SECONDS);
        client.sendText("hi", true).get(5, TimeUnit.SECONDS);
        TestConnection connection = server.awaitConnection();
        connection.expectText("hi");
        connection.expectNothingMore(Duration.ofMillis(50));
    }

    @Test
    void eachTestGetsItsOwnServer(WebSocketTestServer server) {
        PORTS.add(server.port());
        assertEquals(0, server.connectionCount());
        assertThrows(AssertionError.class, () -> server.awaitConnection(Duration.ofMillis(50)));
    }

    @AfterAll
    static void everyServerWasClosedAfterItsTest() {
        assertEquals(2, PORTS.size());
        assertNotEquals(PORTS.get(0), PORTS.get(1));
        for (int port : PORTS) {
            assertThrows(IOException.class, () -> new Socket("127.0.0.1", port).close(),
                "the server on port " + port + " still accepts after its test");
        }
    }
}
