package dev.parley.java;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.parley.Frame;
import dev.parley.RequestCodec;
import dev.parley.StampedRequest;
import dev.parley.SubscriptionCodec;
import dev.parley.SubscriptionReply;
import dev.parley.Subscriptions;
import dev.parley.testkit.WebSocketTestServer;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The events of a client's requests and subscriptions reach a Java ParleyEventListener with JDK types only: the
 * request id or subscription key, the server's reason, the timeout as a java.time.Duration. Against the testkit's
 * server, which confirms `sub:ok`, refuses `sub:bad` and never answers requests.
 */
class LayerEventsFromJavaTest {
    private static final long WAIT = 5;

    /** Requests are `id|body`; replies `re:id|body`. */
    static final class PipeCodec implements RequestCodec<String> {
        @Override
        public StampedRequest<String> stamp(Frame request) {
            String text = ((Frame.Text) request).getText();
            return new StampedRequest<>(text.substring(0, text.indexOf('|')), request);
        }

        @Override
        public String replyId(Frame frame) {
            if (!(frame instanceof Frame.Text)) return null;
            String text = ((Frame.Text) frame).getText();
            return text.startsWith("re:") ? text.substring(3, text.indexOf('|')) : null;
        }
    }

    /** `sub:K` out; `subscribed:K` or `refused:K:why` back. */
    static final class TextSubscriptions implements SubscriptionCodec<String> {
        @Override public Frame subscribe(String key) { return new Frame.Text("sub:" + key); }

        @Override public Frame unsubscribe(String key) { return new Frame.Text("unsub:" + key); }

        @Override
        public SubscriptionReply<String> confirmation(Frame frame) {
            if (!(frame instanceof Frame.Text)) return null;
            String text = ((Frame.Text) frame).getText();
            if (text.startsWith("subscribed:")) return new SubscriptionReply.Confirmed<>(List.of(text.substring(11)));
            if (text.startsWith("refused:")) {
                String[] parts = text.substring(8).split(":");
                return new SubscriptionReply.Refused<>(List.of(parts[0]), parts[1]);
            }
            return null;
        }
    }

    /** The next request or subscription event, skipping the lifecycle ones. */
    private static ParleyEventInfo next(BlockingQueue<ParleyEventInfo> events) throws InterruptedException {
        while (true) {
            ParleyEventInfo event = events.poll(WAIT, TimeUnit.SECONDS);
            assertNotNull(event, "no layer event within " + WAIT + " s");
            String kind = event.kind().name();
            if (kind.startsWith("SUBSCRIPTION_") || kind.startsWith("REQUEST_")) return event;
        }
    }

    @Test
    void subscriptionAndRequestEventsCarryKeysReasonsAndJavaDurations() throws Exception {
        try (WebSocketTestServer server = WebSocketTestServer.builder()
            .onText(text -> text.startsWith("sub:"), text ->
                text.equals("sub:ok") ? "subscribed:ok" : "refused:" + text.substring(4) + ":no such channel")
            .start()) {
            BlockingQueue<ParleyEventInfo> events = new LinkedBlockingQueue<>();
            Subscriptions<String> subscriptions = Subscriptions.create(new TextSubscriptions(), Duration.ofSeconds(10));
            ParleyWebSocket ws = ParleyWebSocket.builder(URI.create(server.url()))
                .requests(new PipeCodec(), Duration.ofSeconds(10))
                .layer(subscriptions)
                .eventListener(events::add)
                .build();
            try {
                ws.connect().get(WAIT, TimeUnit.SECONDS);
                subscriptions.subscribe("ok");
                ParleyEventInfo confirmed = next(events);
                assertEquals(ParleyEventInfo.Kind.SUBSCRIPTION_CONFIRMED, confirmed.kind());
                assertEquals("ok", confirmed.key());

                subscriptions.subscribe("bad");
                ParleyEventInfo refused = next(events);
                assertEquals(ParleyEventInfo.Kind.SUBSCRIPTION_REFUSED, refused.kind());
                assertEquals("bad", refused.key());
                assertEquals("no such channel", refused.reason());

                ExecutionException timedOut = assertThrows(
                    ExecutionException.class,
                    () -> ws.request("7|unanswered", Duration.ofMillis(100)).get(WAIT, TimeUnit.SECONDS));
                assertEquals("RequestTimeoutException", timedOut.getCause().getClass().getSimpleName());
                ParleyEventInfo event = next(events);
                assertEquals(ParleyEventInfo.Kind.REQUEST_TIMED_OUT, event.kind());
                assertEquals("7", event.key());
                assertEquals(Duration.ofMillis(100), event.delay());
            } finally {
                ws.close();
            }
        }
    }
}
