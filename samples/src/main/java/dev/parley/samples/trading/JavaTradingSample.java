package dev.parley.samples.trading;

import dev.parley.BearerToken;
import dev.parley.OutboundBuffer;
import dev.parley.Subscriptions;
import dev.parley.java.DisconnectInfo;
import dev.parley.java.ParleyListener;
import dev.parley.java.ParleyState;
import dev.parley.java.ParleyWebSocket;
import dev.parley.java.ParleyWebSocketPool;
import dev.parley.java.ReconnectDecision;
import dev.parley.java.Reply;
import dev.parley.jsonrpc.JsonRpc;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import kotlin.Pair;

/**
 * The trading sample through the Java facade, against the same exchange as the Kotlin one: a bearer token from the
 * exchange's token service, JSON-RPC requests, a ticker subscription, an order, and a restart of the exchange with an
 * order sent while it is down, then quotes through a pool of two more connections.
 * {@code exec:exec@java-trading-sample} in README.
 */
public final class JavaTradingSample {
    private static final String BUY = "{\"instrument_name\":\"ETH-PERPETUAL\",\"amount\":5,\"type\":\"market\"}";

    public static void main(String[] args) throws Exception {
        try (ExchangeServer exchange = new ExchangeServer(3_000).start()) {
            trade(exchange, System.out::println);
        }
    }

    /** Runs the conversation, telling {@code say} what happens; returns the orders filled, for the sample's test. */
    public static int trade(ExchangeServer exchange, Consumer<String> say) throws Exception {
        AtomicInteger issued = new AtomicInteger();
        BearerToken token = BearerToken.of(Duration.ofSeconds(1), () -> CompletableFuture.supplyAsync(() -> {
            Pair<String, Instant> fresh = exchange.issueToken();
            say.accept("token service: issued " + issued.incrementAndGet() + ", valid until " + fresh.getSecond());
            return new BearerToken.Token(fresh.getFirst(), fresh.getSecond());
        }));
        Subscriptions<String> subscriptions = Subscriptions.create(JsonRpc.subscriptions(), Duration.ofSeconds(10));
        subscriptions.addListener((channel, state) -> say.accept("subscription " + channel + ": " + state));
        subscriptions.subscribe("ticker.ETH-PERPETUAL");
        OutboundBuffer orders = OutboundBuffer.create(100, 1 << 16, Duration.ofSeconds(30));

        CountDownLatch tickers = new CountDownLatch(3);
        BlockingQueue<String> fills = new LinkedBlockingQueue<>();
        AtomicInteger filled = new AtomicInteger();
        BlockingQueue<ParleyState.Kind> states = new LinkedBlockingQueue<>();
        ParleyListener trader = new ParleyListener() {
            @Override public void onConnect(Reply reply) { say.accept("connected"); }

            @Override public void onText(Reply reply, String text) {
                if (text.contains("\"subscription\"") && tickers.getCount() > 0) {
                    say.accept("ticker: " + text);
                    tickers.countDown();
                } else if (text.contains("\"order_update\"")) {
                    say.accept("order update: " + text);
                    filled.incrementAndGet();
                    fills.add(text);
                }
            }

            @Override public ReconnectDecision onDisconnect(DisconnectInfo reason) {
                say.accept("disconnected (" + (reason.recoverable() ? "recoverable" : "fatal") + "): "
                    + reason.explanation());
                return ReconnectDecision.DEFAULT;
            }

            @Override public void onStateChange(ParleyState state) { states.add(state.kind()); }
        };
        try (ParleyWebSocket ws = ParleyWebSocket.builder(java.net.URI.create(exchange.getUrl()))
                .name("java-trader")
                .reconnect(Duration.ofMillis(100), Duration.ofMillis(400), -1)
                .heartbeat(Duration.ofSeconds(1), Duration.ofSeconds(2), JsonRpc.heartbeat())
                .bearerToken(token)
                .layer(subscriptions)
                .layer(orders)
                .requests(JsonRpc.codec(), Duration.ofSeconds(5))
                .listener(trader)
                .build()) {
            ws.connect().get(10, TimeUnit.SECONDS);
            String time = ws.request(JsonRpc.request("public/get_time")).get(5, TimeUnit.SECONDS);
            say.accept("server time: " + JsonRpc.reply(time).getResult());
            if (!tickers.await(10, TimeUnit.SECONDS)) throw new IllegalStateException("no ticker updates");
            String bought = ws.request(JsonRpc.request("private/buy", BUY)).get(5, TimeUnit.SECONDS);
            say.accept("bought: " + JsonRpc.reply(bought).getResult());
            fills.poll(10, TimeUnit.SECONDS);

            say.accept("--- the exchange restarts; an order sent meanwhile waits in the outbound buffer");
            exchange.stop();
            awaitState(states, ParleyState.Kind.DISCONNECTED);
            CompletableFuture<Void> queued = orders.sendText(JsonRpc.request("private/buy", BUY));
            say.accept("orders waiting for a connection: " + orders.metrics().getBuffered());
            exchange.start();
            queued.get(10, TimeUnit.SECONDS);
            if (fills.poll(10, TimeUnit.SECONDS) == null) throw new IllegalStateException("the queued order was not filled");

            say.accept("--- quotes through a pool of 2 more connections, each with its own token and requests");
            try (ParleyWebSocketPool pool = ParleyWebSocketPool.start(2, index ->
                    ParleyWebSocket.builder(java.net.URI.create(exchange.getUrl()))
                        .name("java-quotes-" + index)
                        .bearerToken(tokenFrom(exchange))
                        .requests(JsonRpc.codec(), Duration.ofSeconds(5))
                        .build())) {
                pool.awaitConnected(2).get(10, TimeUnit.SECONDS);
                for (int i = 0; i < 4; i++) pool.request(JsonRpc.request("public/get_time")).get(5, TimeUnit.SECONDS);
                say.accept("pool: " + pool.stats().requests() + " quotes over " + pool.stats().members().size()
                    + " members");
            }
            say.accept("done: " + ws.metrics().totalReconnects() + " reconnect(s), " + ws.requestStats());
            return filled.get();
        }
    }

    /** A token source for one more connection: the exchange's token service, refreshed a second before expiry. */
    private static BearerToken tokenFrom(ExchangeServer exchange) {
        return BearerToken.of(Duration.ofSeconds(1), () -> CompletableFuture.supplyAsync(() -> {
            Pair<String, Instant> fresh = exchange.issueToken();
            return new BearerToken.Token(fresh.getFirst(), fresh.getSecond());
        }));
    }

    private static void awaitState(BlockingQueue<ParleyState.Kind> states, ParleyState.Kind wanted)
            throws InterruptedException {
        while (true) {
            ParleyState.Kind kind = states.poll(10, TimeUnit.SECONDS);
            if (kind == null) throw new IllegalStateException("no " + wanted + " within 10 s");
            if (kind == wanted) return;
        }
    }

    private JavaTradingSample() {}
}
