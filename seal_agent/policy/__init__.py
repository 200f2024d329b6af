"""The self-edit policy: what the model is asked, how it writes, what counts as a self-edit.

    tool_format  the answer format: tool specs and descriptions, the JSON schema, the grammar
    local        LocalToolPolicy: a LangChain chat model over the local model, sampling under
                 the grammar (the vLLM policy in `seal_agent.vllm_backend` shares its interface)
    candidates   sampled messages <-> the plain-JSON candidates the graph state holds
    self_edit    validation: tool calls -> a SelfEdit (augmentations, training) or a Rejection
    chat_models  any LangChain chat model as a frozen proposer (`eval.teacher`)
"""
