# One image for both production processes; docker-compose.yml picks the command.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# --omit=dev keeps jest and the type checker out; tsx (a runtime dependency) runs the TypeScript.
# Install scripts run only for the packages package.json approves in allowScripts.
RUN npm ci --omit=dev && npm cache clean --force
COPY . .
USER node
EXPOSE 3000
CMD ["node", "--import", "tsx", "api/main.ts"]
