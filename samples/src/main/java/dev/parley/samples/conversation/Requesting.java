package dev.parley.samples.conversation;

import dev.parley.java.ParleyListener;
import dev.parley.java.ParleyWebSocket;
import dev.parley.java.Reply;
import dev.parley.jsonrpc.JsonRpc;
import dev.parley.jsonrpc.JsonRpcReply;
import java.net.URI;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

public final class Requesting {
    public static ParleyWebSocket exchange() {
        return ParleyWebSocket.builder(URI.create("wss://exchange.example.com/ws/api/v2"))
            .requests(JsonRpc.codec(), Duration.ofSeconds(10)) // matches replies by their JSON-RPC id
            .listener(new ParleyListener() {
                @Override
                public void onUnmatchedReply(Reply reply, String id, String text, boolean late) {
                    System.out.println("a reply nobody waited for (late: " + late + "): " + text);
                }
            })
            .build();
    }

    /** Completes with the result as JSON text; the reply never reaches onText. Safe inside callbacks too. */
    public static CompletableFuture<String> serverTime(ParleyWebSocket ws) {
        return ws.request(JsonRpc.request("public/get_time"))
            .thenApply(JsonRpc::reply)
            .thenApply(JsonRpcReply::getResult);
    }

    private Requesting() {}
}
