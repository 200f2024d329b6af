"""The self-edit policy: how the model writes a self-edit, and what counts as one.

    tool_format  the answer format: tool specs and descriptions, the JSON schema, the grammar
    local        LocalToolPolicy: a LangChain chat model over the local model, sampling under
                 the grammar
    vllm         VllmPolicy: the same interface, sampled by vLLM, with the check that vLLM
                 samples from the current policy adapter
    candidates   sampled messages <-> the plain-JSON candidates the graph state holds
    self_edit    validation: tool calls -> a SelfEdit (augmentations, training) or a Rejection
    chat_models  any LangChain chat model as a frozen proposer (`eval.teacher`)

The messages that ask for a self-edit are the domains' (`seal_agent.arc.prompts`,
`seal_agent.knowledge.prompts`); ReST-EM's fine-tuning of the policy is `seal_agent.rl`.
"""
