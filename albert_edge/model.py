"""ALBERT in plain PyTorch, written to be read top to bottom (nanoGPT style).

Parameter names follow Hugging Face's `modeling_albert.py` exactly, so its checkpoints load with `strict=True`.
The point of ALBERT is cross-layer sharing: `num_hidden_layers` applications of only `num_hidden_groups` groups.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

from .config import AlbertConfig

# Keys HF leaves out of the file because they alias other tensors (tied MLM decoder).
TIED_KEYS = {
    "predictions.decoder.weight": "albert.embeddings.word_embeddings.weight",
    "predictions.decoder.bias": "predictions.bias",
}


def gelu_new(x: torch.Tensor) -> torch.Tensor:
    # The tanh approximation used by the original ALBERT/BERT TF code (HF calls it "gelu_new").
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


ACT_FNS = {"gelu": F.gelu, "gelu_new": gelu_new, "relu": F.relu}


class AlbertEmbeddings(nn.Module):
    def __init__(self, config: AlbertConfig):
        super().__init__()
        # Factorised embedding: tokens live in a small `embedding_size` space, projected up later by the encoder.
        self.word_embeddings = nn.Embedding(config.vocab_size, config.embedding_size, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.embedding_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.embedding_size)
        self.LayerNorm = nn.LayerNorm(config.embedding_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        T = input_ids.shape[1]
        positions = torch.arange(T, device=input_ids.device).unsqueeze(0)  # (1, T)
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        x = x + self.position_embeddings(positions)  # (B, T, E)
        return self.dropout(self.LayerNorm(x))


class AlbertAttention(nn.Module):
    def __init__(self, config: AlbertConfig):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.dropout_p = config.attention_probs_dropout_prob
        self.scale = 1.0 / math.sqrt(config.head_size)
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.output_dropout = nn.Dropout(config.hidden_dropout_prob)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, T, H = x.shape

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.view(B, T, self.num_heads, H // self.num_heads).transpose(1, 2)  # (B, nh, T, hs)

        q, k, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
        dropout_p = self.dropout_p if self.training else 0.0
        # An explicit scale exports as a constant; the default makes the ONNX graph recompute 1/sqrt(hs) from
        # Shape ops in every layer on every run (measurable at batch 1 on short texts).
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=dropout_p, scale=self.scale
        )  # (B, nh, T, hs)
        y = y.transpose(1, 2).reshape(B, T, H)
        return self.LayerNorm(x + self.output_dropout(self.dense(y)))  # post-norm, as in ALBERT


class AlbertLayer(nn.Module):
    def __init__(self, config: AlbertConfig):
        super().__init__()
        self.attention = AlbertAttention(config)
        self.ffn = nn.Linear(config.hidden_size, config.intermediate_size)
        self.ffn_output = nn.Linear(config.intermediate_size, config.hidden_size)
        self.activation = ACT_FNS[config.hidden_act]
        self.full_layer_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.attention(x, mask)  # (B, T, H)
        # HF has no dropout on the FFN output of ALBERT; we match it so logits agree.
        return self.full_layer_layer_norm(x + self.ffn_output(self.activation(self.ffn(x))))


class AlbertLayerGroup(nn.Module):
    """`inner_group_num` distinct layers, applied in order each time the group is used."""

    def __init__(self, config: AlbertConfig):
        super().__init__()
        self.albert_layers = nn.ModuleList([AlbertLayer(config) for _ in range(config.inner_group_num)])

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        for layer in self.albert_layers:
            x = layer(x, mask)
        return x


class AlbertTransformer(nn.Module):
    def __init__(self, config: AlbertConfig):
        super().__init__()
        self.num_layers = config.num_hidden_layers
        self.embedding_hidden_mapping_in = nn.Linear(config.embedding_size, config.hidden_size)
        self.albert_layer_groups = nn.ModuleList([AlbertLayerGroup(config) for _ in range(config.num_hidden_groups)])

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.embedding_hidden_mapping_in(x)  # (B, T, E) -> (B, T, H)
        num_groups = len(self.albert_layer_groups)
        for i in range(self.num_layers):
            # Cross-layer sharing: layer i reuses the weights of group i * G // L (all layers share when G == 1).
            group = self.albert_layer_groups[i * num_groups // self.num_layers]
            x = group(x, mask)
        return x


class AlbertModel(nn.Module):
    def __init__(self, config: AlbertConfig):
        super().__init__()
        self.embeddings = AlbertEmbeddings(config)
        self.encoder = AlbertTransformer(config)
        self.pooler = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        x = self.embeddings(input_ids, token_type_ids)  # (B, T, E)
        # Additive mask, broadcast over heads and query positions: padded keys get the dtype's minimum.
        mask = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min  # (B, 1, 1, T)
        x = self.encoder(x, mask)  # (B, T, H)
        pooled = torch.tanh(self.pooler(x[:, 0]))  # (B, H): the [CLS] position
        return x, pooled


class AlbertPreTrainedModel(nn.Module):
    """Shared init and checkpoint saving for the task heads."""

    config: AlbertConfig

    def init_weights(self) -> None:
        # Same scheme as HF: normal(0, initializer_range) for Linear/Embedding, zeros for biases and padding row.
        std = self.config.initializer_range
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, mean=0.0, std=std)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
            if isinstance(module, nn.Embedding) and module.padding_idx is not None:
                with torch.no_grad():
                    module.weight[module.padding_idx].zero_()
            if isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write config.json and model.safetensors the way `transformers` does (tied aliases left out)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.config.extra["architectures"] = [type(self).__name__]
        self.config.save(directory)
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items() if k not in TIED_KEYS}
        save_file(state, str(directory / "model.safetensors"), metadata={"format": "pt"})
        return directory


class AlbertForSequenceClassification(AlbertPreTrainedModel):
    def __init__(self, config: AlbertConfig):
        super().__init__()
        self.config = config
        self.albert = AlbertModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.init_weights()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        _, pooled = self.albert(input_ids, attention_mask, token_type_ids)
        return self.classifier(self.dropout(pooled))  # (B, num_labels) logits


class AlbertMLMHead(nn.Module):
    def __init__(self, config: AlbertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.embedding_size)
        self.activation = ACT_FNS[config.hidden_act]
        self.LayerNorm = nn.LayerNorm(config.embedding_size, eps=config.layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.decoder = nn.Linear(config.embedding_size, config.vocab_size)
        self.decoder.bias = self.bias  # HF stores both names for one tensor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.LayerNorm(self.activation(self.dense(x))))  # (B, T, V)


class AlbertSOPHead(nn.Module):
    def __init__(self, config: AlbertConfig):
        super().__init__()
        self.dropout = nn.Dropout(config.classifier_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, 2)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(pooled))  # (B, 2): in order / swapped


class AlbertForPreTraining(AlbertPreTrainedModel):
    """Masked-LM + sentence-order prediction. The MLM decoder IS the word-embedding matrix (tied storage)."""

    def __init__(self, config: AlbertConfig):
        super().__init__()
        self.config = config
        self.albert = AlbertModel(config)
        self.predictions = AlbertMLMHead(config)
        self.sop_classifier = AlbertSOPHead(config)
        self.init_weights()
        self.predictions.decoder.weight = self.albert.embeddings.word_embeddings.weight

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor,
        mlm_labels: torch.Tensor,
        sop_labels: torch.Tensor,
    ) -> torch.Tensor:
        x, pooled = self.albert(input_ids, attention_mask, token_type_ids)
        selected = mlm_labels != -100  # only masked positions pay for the (V-wide) decoder
        mlm_logits = self.predictions(x[selected])  # (N, V)
        mlm_loss = F.cross_entropy(mlm_logits, mlm_labels[selected]) if selected.any() else x.sum() * 0.0
        sop_loss = F.cross_entropy(self.sop_classifier(pooled), sop_labels)
        return mlm_loss + sop_loss
