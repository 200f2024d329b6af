"""ReST-EM, the outer loop: the policy learns from the self-edits that earned reward.

    sft       the M-step: supervised fine-tuning of the policy adapter on (prompt, kept
              self-edit), the loss on the self-edit only; saving and loading checkpoints
    rest_em   one round's update as the graphs call it (`rest_em_update`), and the policy
              slot that keeps the in-memory adapter equal to the checkpoint the state names
"""
