"""The outer loop: the policy learns from the self-edits that earned reward.

    sft              the M-step: supervised fine-tuning of the policy adapter on (prompt, kept
                     self-edit), the loss on the self-edit only; saving and loading checkpoints
    rest_em          one round's ReST-EM update (`rest_em_update`), and the policy slot that
                     keeps the in-memory adapter equal to the checkpoint the state names
    policy_gradient  RLOO and GRPO over every sampled self-edit (`rl.algorithm`), and
                     `update_policy`, the one entry point the graphs call whatever the algorithm
"""
